package io.cohort.tc.store.postgres;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/**
 * This process's clock moved onto the database's, so that replicas sharing one database decide by
 * the same time (a transaction's begin time and its timeout, retry times) however far their own
 * clocks are apart. The offset is measured like NTP does: the database's {@code clock_timestamp()}
 * read between two local readings, taken from the sample with the shortest round trip among the
 * last {@value #WINDOW}, so the error is at most half that round trip; a slow sample on a loaded
 * machine does not displace a good one. Until the first sample it is the local clock.
 *
 * <p>Thread rules: {@link #sample} is called from one thread (the lease renewal); {@link #millis}
 * from any.
 */
final class DatabaseClock extends Clock {

    static final int WINDOW = 8;

    private final Clock local;
    private final long[] offsets = new long[WINDOW];
    private final long[] roundTrips = new long[WINDOW];
    private int next;
    private int filled;
    private volatile long offsetMs;
    private volatile long errorMs = -1;

    DatabaseClock(Clock local) {
        this.local = local;
    }

    /**
     * One measurement: the database said {@code databaseMs} while the local clock went from
     * {@code localBeforeMs} to {@code localAfterMs}.
     */
    void sample(long localBeforeMs, long databaseMs, long localAfterMs) {
        long roundTrip = Math.max(0, localAfterMs - localBeforeMs);
        offsets[next] = databaseMs - (localBeforeMs + roundTrip / 2);
        roundTrips[next] = roundTrip;
        next = (next + 1) % WINDOW;
        filled = Math.min(filled + 1, WINDOW);
        int best = 0;
        for (int i = 1; i < filled; i++) {
            if (roundTrips[i] < roundTrips[best]) {
                best = i;
            }
        }
        offsetMs = offsets[best];
        errorMs = (roundTrips[best] + 1) / 2;
    }

    /** The local clock is this far behind the database's (negative: ahead). */
    long offsetMs() {
        return offsetMs;
    }

    /** The most the offset may be wrong by; -1 before the first sample. */
    long errorMs() {
        return errorMs;
    }

    /** The local clock, for timing a sample. */
    long localMillis() {
        return local.millis();
    }

    @Override
    public long millis() {
        return local.millis() + offsetMs;
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochMilli(millis());
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        throw new UnsupportedOperationException("the database clock is in UTC");
    }

    @Override
    public String toString() {
        return "DatabaseClock[offset=" + offsetMs + "ms, error<=" + errorMs + "ms]";
    }
}
