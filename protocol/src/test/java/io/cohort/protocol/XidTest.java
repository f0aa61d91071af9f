package io.cohort.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.SecureRandom;
import java.util.concurrent.atomic.AtomicInteger;
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
        assertThatThrownBy(() -> new Xid("h:1", "ABC", 1)).hasMessageContaining("16 (or, made by a TM, 32) lowercase hex digits");
    }

    @Test
    void theLongestAllowedAddressWithTheLargestSequenceFitsMaxLength() {
        Xid longest = new Xid("a".repeat(Xid.MAX_ADDRESS_LENGTH), "0123456789abcdef", Long.MAX_VALUE);
        assertThat(longest.toString()).hasSize(Xid.MAX_LENGTH);
        assertThat(Xid.parse(longest.toString())).isEqualTo(longest);
    }

    @Test
    void aTmMadeXidCarriesA128BitTagThatTellsItFromOneTheTcIssued() {
        SecureRandom random = new SecureRandom();
        Xid made = Xid.tmMade("10.0.0.5:8091", 7, random);
        assertThat(made.tag()).matches("[0-9a-f]{32}");
        assertThat(made.tmMade()).isTrue();
        assertThat(Xid.parse(made.toString())).isEqualTo(made);
        assertThat(Xid.tagged("10.0.0.5:8091", 7, random).tmMade()).isFalse();
        assertThat(Xid.tmMade("10.0.0.5:8091", 7, random)).isNotEqualTo(made);
    }

    @Test
    void aParserFromBeforeMinor8StillAcceptsATmMadeXid() {
        // What Xid.parse did before minor 8: a tag of other than 16 digits reads as part of the address.
        String text = Xid.tmMade("10.0.0.5:8091", 42, new SecureRandom()).toString();
        String rest = text.substring(0, text.lastIndexOf(':'));
        assertThat(Long.parseLong(text.substring(text.lastIndexOf(':') + 1))).isEqualTo(42);
        assertThat(new Xid(rest, "", 42).tcAddress()).startsWith("10.0.0.5:8091:");
    }

    @Test
    void theLongestTmAddressWithTheLargestSequenceFitsMaxLength() {
        Xid longest = Xid.tmMade("a".repeat(Xid.MAX_TM_ADDRESS_LENGTH), Long.MAX_VALUE, new SecureRandom());
        assertThat(longest.toString()).hasSize(Xid.MAX_LENGTH);
        assertThat(Xid.parse(longest.toString())).isEqualTo(longest);
    }

    @Test
    void aTmMadeXidDrawsItsWhole128BitTagFromTheGeneratorAtOnce() {
        // Each draw from the default SecureRandom takes its lock and reads the OS source (about 1 µs under
        // load, issue 15): one draw of 16 bytes per XID, not two of 8.
        AtomicInteger draws = new AtomicInteger();
        SecureRandom counting = new SecureRandom() {
            @Override
            public void nextBytes(byte[] bytes) {
                draws.incrementAndGet();
                super.nextBytes(bytes);
            }
        };
        Xid made = Xid.tmMade("10.0.0.5:8091", 7, counting);
        assertThat(draws).hasValue(1);
        assertThat(made.tag()).matches("[0-9a-f]{32}");
    }

    @Test
    void parsingLooksAtTheTagInPlaceAndStillTellsATagFromAnAddressPart() {
        assertThat(Xid.parse("10.0.0.5:8091:3f9a0c2e7b1d4a58:12")).isEqualTo(new Xid("10.0.0.5:8091", "3f9a0c2e7b1d4a58", 12));
        assertThat(Xid.parse("10.0.0.5:8091:12")).isEqualTo(new Xid("10.0.0.5:8091", "", 12));
        // 16 characters that are not all lowercase hex: part of the address, as before
        assertThat(Xid.parse("host:3F9A0C2E7B1D4A58:12")).isEqualTo(new Xid("host:3F9A0C2E7B1D4A58", "", 12));
        assertThat(Xid.parse("3f9a0c2e7b1d4a58:12")).isEqualTo(new Xid("3f9a0c2e7b1d4a58", "", 12));
        assertThatThrownBy(() -> Xid.parse("host:8091:12x")).hasMessageContaining("must be a number");
    }
}
