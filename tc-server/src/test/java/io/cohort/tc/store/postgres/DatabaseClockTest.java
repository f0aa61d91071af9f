package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class DatabaseClockTest {

    private final Clock local = Clock.fixed(Instant.ofEpochMilli(1_000_000), ZoneOffset.UTC);

    @Test
    void isTheLocalClockUntilTheFirstSample() {
        DatabaseClock clock = new DatabaseClock(local);
        assertThat(clock.millis()).isEqualTo(1_000_000);
        assertThat(clock.errorMs()).isEqualTo(-1);
    }

    @Test
    void movesTheLocalClockByTheOffsetMeasuredAtTheMiddleOfTheRoundTrip() {
        DatabaseClock clock = new DatabaseClock(local);
        clock.sample(1_000, 3_601_010, 1_020); // the database said +1 h at the local 1_010
        assertThat(clock.offsetMs()).isEqualTo(3_600_000);
        assertThat(clock.errorMs()).isEqualTo(10);
        assertThat(clock.millis()).isEqualTo(1_000_000 + 3_600_000);
    }

    @Test
    void keepsTheSampleWithTheShortestRoundTripOfTheWindow() {
        DatabaseClock clock = new DatabaseClock(local);
        clock.sample(0, 502, 4); // round trip 4 ms: offset 500
        clock.sample(100, 2_000, 1_100); // a stalled sample (1 s round trip) says 1400: not believed
        assertThat(clock.offsetMs()).isEqualTo(500);
        for (int i = 0; i < DatabaseClock.WINDOW; i++) {
            clock.sample(10_000, 10_706, 10_012); // later good samples replace the old best once it leaves
        }
        assertThat(clock.offsetMs()).isEqualTo(700);
        assertThat(clock.errorMs()).isEqualTo(6);
    }
}
