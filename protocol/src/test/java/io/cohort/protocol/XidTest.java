package io.cohort.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.SecureRandom;
import org.junit.jupiter.api.Test;

class XidTest {

    @Test
    void aTaggedXidReadsAsAddressTagSequenceAndParsesBack() {
        Xid xid = new Xid("10.0.0.5:8091", "3f9a0c2e7b1d4a58", 1732931704000123L);
        assertThat(xid).hasToString("10.0.0.5:8091:3f9a0c2e7b1d4a58:1732931704000123");
        assertThat(Xid.parse(xid.toString())).isEqualTo(xid);
        assertThat(xid.legacy()).isFalse();
    }

    @Test
    void anXidWrittenBeforeTheTagExistedStillParsesWithAnEmptyTag() {
        Xid legacy = Xid.parse("10.0.0.5:8091:739216");
        assertThat(legacy).isEqualTo(new Xid("10.0.0.5:8091", "", 739216));
        assertThat(legacy.legacy()).isTrue();
        assertThat(legacy).hasToString("10.0.0.5:8091:739216");
    }

    @Test
    void anOlderParserThatTakesTheNumberAfterTheLastColonStillAcceptsATaggedXid() {
        String text = Xid.tagged("tc-0.tc.cohort.svc:8091", 42, new SecureRandom()).toString();
        int colon = text.lastIndexOf(':');
        assertThat(Long.parseLong(text.substring(colon + 1))).isEqualTo(42);
    }

    @Test
    void tagsAreSixteenHexDigitsAndDiffer() {
        SecureRandom random = new SecureRandom();
        Xid a = Xid.tagged("h:1", 1, random);
        Xid b = Xid.tagged("h:1", 2, random);
        assertThat(a.tag()).matches("[0-9a-f]{16}");
        assertThat(a.tag()).isNotEqualTo(b.tag());
    }

    @Test
    void malformedXidsAreRefusedSayingWhatWasExpected() {
        assertThatThrownBy(() -> Xid.parse("h:1:3f9a0c2e7b1d4a58:x")).hasMessageContaining("must be a number");
        assertThatThrownBy(() -> Xid.parse("nocolon")).hasMessageContaining("<tc-host>:<tc-port>:<tag>:<sequence>");
        assertThatThrownBy(() -> Xid.parse("h:1:" + "1".repeat(Xid.MAX_LENGTH))).hasMessageContaining("at most 128");
        assertThatThrownBy(() -> new Xid("h:1", "ABC", 1)).hasMessageContaining("16 lowercase hex digits");
    }

    @Test
    void theLongestAllowedAddressWithTheLargestSequenceFitsMaxLength() {
        Xid longest = new Xid("a".repeat(Xid.MAX_ADDRESS_LENGTH), "0123456789abcdef", Long.MAX_VALUE);
        assertThat(longest.toString()).hasSize(Xid.MAX_LENGTH);
        assertThat(Xid.parse(longest.toString())).isEqualTo(longest);
    }
}
