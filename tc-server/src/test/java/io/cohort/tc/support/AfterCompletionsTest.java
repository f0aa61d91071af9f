package io.cohort.tc.support;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AfterCompletionsTest {

    @Test
    void deferredActionsRunAfterTheBatchInOrderOnceEvenIfOneFailsOrDefersMore() {
        List<String> ran = new ArrayList<>();
        AfterCompletions.run(() -> {
            assertThat(AfterCompletions.defer(() -> ran.add("first"))).isTrue();
            AfterCompletions.defer(() -> {
                throw new IllegalStateException("a send that failed");
            });
            AfterCompletions.run(() -> AfterCompletions.defer(() -> {
                ran.add("nested");
                AfterCompletions.defer(() -> ran.add("deferred by a deferred one"));
            }));
            ran.add("completions");
        });
        assertThat(ran).containsExactly("completions", "first", "nested", "deferred by a deferred one");
    }

    @Test
    void outsideABatchNothingIsDeferred() {
        List<String> ran = new ArrayList<>();
        assertThat(AfterCompletions.defer(() -> ran.add("never"))).isFalse();
        AfterCompletions.run(() -> { });
        assertThat(AfterCompletions.defer(() -> ran.add("never"))).isFalse();
        assertThat(ran).isEmpty();
    }
}
