package io.cohort.tm.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.util.List;
import org.junit.jupiter.api.Test;

class RollbackRulesTest {

    static class BusinessException extends Exception {
    }

    @Test
    void byDefaultEveryExceptionRollsBackCheckedOnesToo() {
        assertThat(RollbackRules.DEFAULT.shouldRollback(new IllegalStateException())).isTrue();
        assertThat(RollbackRules.DEFAULT.shouldRollback(new AssertionError())).isTrue();
        assertThat(RollbackRules.DEFAULT.shouldRollback(new IOException())).isTrue();
        assertThat(RollbackRules.DEFAULT.shouldRollback(new java.sql.SQLException())).isTrue();
        assertThat(RollbackRules.DEFAULT.shouldRollback(new BusinessException())).isTrue();
    }

    @Test
    void noRollbackForShouldCommitTheNamedCheckedExceptionAndItsSubclassesOnly() {
        RollbackRules rules = RollbackRules.of(List.of(), List.of(IOException.class));

        assertThat(rules.shouldRollback(new IOException())).isFalse();
        assertThat(rules.shouldRollback(new FileNotFoundException())).isFalse();
        assertThat(rules.shouldRollback(new BusinessException())).isTrue();
    }

    @Test
    void noRollbackForShouldCommitTheNamedRuntimeException() {
        RollbackRules rules = RollbackRules.of(List.of(), List.of(IllegalArgumentException.class));

        assertThat(rules.shouldRollback(new NumberFormatException())).isFalse();
        assertThat(rules.shouldRollback(new IllegalStateException())).isTrue();
    }

    @Test
    void theRuleClosestToTheThrownClassShouldWin() {
        RollbackRules rules = RollbackRules.of(List.of(Exception.class), List.of(IOException.class));
        assertThat(rules.shouldRollback(new FileNotFoundException())).isFalse();
        assertThat(rules.shouldRollback(new BusinessException())).isTrue();

        RollbackRules reversed = RollbackRules.of(List.of(FileNotFoundException.class), List.of(IOException.class));
        assertThat(reversed.shouldRollback(new FileNotFoundException())).isTrue();
        assertThat(reversed.shouldRollback(new IOException())).isFalse();
    }

    @Test
    void aClassInBothListsShouldBeRefused() {
        assertThatThrownBy(() -> RollbackRules.of(List.of(IOException.class), List.of(IOException.class)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("java.io.IOException");
    }
}
