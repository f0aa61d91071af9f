package io.cohort.tc.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class CallerTest {

    @Test
    void aStarStandsForAnyCharactersAndEverythingElseIsLiteral() {
        Caller bank = Caller.restricted("bank", List.of("jdbc:postgresql://db2/*", "jdbc:postgresql://db1/bank_a"));
        assertThat(bank.mayServe("jdbc:postgresql://db2/bank_b")).isTrue();
        assertThat(bank.mayServe("jdbc:postgresql://db1/bank_a")).isTrue();
        assertThat(bank.mayServe("jdbc:postgresql://db20/bank_b")).isFalse();
        assertThat(bank.mayServe("jdbc:postgresql://db1/bank_ab")).isFalse();
        assertThat(Caller.restricted("dots", List.of("a.b")).mayServe("axb")).as("a dot is a dot").isFalse();
        assertThat(Caller.restricted("tm", List.of()).mayServe("anything")).as("no resources listed").isFalse();
        assertThat(Caller.ANY.mayServe("anything")).isTrue();
    }
}
