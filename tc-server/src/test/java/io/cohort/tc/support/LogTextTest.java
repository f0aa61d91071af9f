package io.cohort.tc.support;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LogTextTest {

    @Test
    void cleanShortTextIsReturnedAsItIsWithoutACopy() {
        // The TC puts every call's XID in the MDC through safe(): text with nothing to escape is not rebuilt (issue 15).
        String xid = "10.0.0.5:8091:3f9a0c2e7b1d4a583f9a0c2e7b1d4a58:1732931704000123";
        assertThat(LogText.safe(xid)).isSameAs(xid);
        assertThat(LogText.safe("")).isSameAs("");
    }

    @Test
    void controlCharactersAreEscapedAndLongTextIsCut() {
        assertThat(LogText.safe("a\nb\rc\td\\e\u0001f\u2028")).isEqualTo("a\\nb\\rc\\td\\\\e\\u0001f\\u2028");
        assertThat(LogText.safe("x".repeat(205))).isEqualTo("x".repeat(200) + "...(205 chars)");
        assertThat(LogText.safe("x".repeat(200))).isEqualTo("x".repeat(200));
        assertThat(LogText.safe("ab\n", 2)).isEqualTo("ab...(3 chars)");
        assertThat(LogText.safe(null)).isEqualTo("null");
    }
}
