package io.cohort.tc.coordinator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.protocol.Xid;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class IdGeneratorTest {

    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-11-30T00:00:00Z"), ZoneOffset.UTC);

    @Test
    void xidsFromOneTcAreUniqueEvenFromManyThreads() {
        IdGenerator ids = new IdGenerator(CLOCK, "10.0.0.5:8091");
        Set<String> seen = ConcurrentHashMap.newKeySet();
        Set<Long> sequences = ConcurrentHashMap.newKeySet();
        IntStream.range(0, 200_000).parallel().forEach(i -> {
            Xid xid = ids.nextXid();
            seen.add(xid.toString());
            sequences.add(xid.sequence());
        });
        assertThat(seen).hasSize(200_000);
        assertThat(sequences).as("uniqueness rests on the sequence, not on the random tag").hasSize(200_000);
    }

    /**
     * From two consecutive XIDs the next sequence is known, but the next XID is not: its tag is
     * neither of the previous tags nor any simple function of them, and tags do not repeat.
     */
    @Test
    void twoConsecutiveXidsDoNotGiveAwayTheNext() {
        IdGenerator ids = new IdGenerator(CLOCK, "10.0.0.5:8091");
        Set<String> tags = new HashSet<>();
        for (int round = 0; round < 10_000; round++) {
            Xid first = ids.nextXid();
            Xid second = ids.nextXid();
            Xid next = ids.nextXid();
            long a = Long.parseUnsignedLong(first.tag(), 16);
            long b = Long.parseUnsignedLong(second.tag(), 16);
            List<String> guesses = List.of(first.tag(), second.tag(), hex(b + (b - a)), hex(b + 1), hex(b ^ a),
                    hex(b * 2 - a));
            assertThat(guesses).doesNotContain(next.tag());
            assertThat(tags.add(first.tag()) & tags.add(second.tag()) & tags.add(next.tag()))
                    .as("a tag repeated after %s draws", tags.size()).isTrue();
        }
    }

    @Test
    void anAdvertisedAddressTooLongForTheXidIsRefusedAtStartNamingTheSetting() {
        assertThatThrownBy(() -> new IdGenerator(CLOCK, "h".repeat(Xid.MAX_ADDRESS_LENGTH) + ":1"))
                .hasMessageContaining("cohort.tc.advertised-address");
        assertThat(new IdGenerator(CLOCK, "h".repeat(Xid.MAX_ADDRESS_LENGTH - 5) + ":8091").nextXid().toString())
                .hasSizeLessThanOrEqualTo(Xid.MAX_LENGTH);
    }

    private static String hex(long v) {
        return java.util.HexFormat.of().toHexDigits(v);
    }
}
