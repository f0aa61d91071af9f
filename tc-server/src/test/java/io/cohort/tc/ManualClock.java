package io.cohort.tc;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A UTC clock that stands still until the test moves it: the store contract tests move it by hand,
 * the coordinator tests through their manual scheduler. Thread-safe, so a store's own threads may read it.
 */
public final class ManualClock extends Clock {

    private final AtomicLong millis;

    public ManualClock(Instant start) {
        this.millis = new AtomicLong(start.toEpochMilli());
    }

    public void advance(Duration by) {
        if (by.isNegative()) {
            throw new IllegalArgumentException("Time does not go back: " + by);
        }
        millis.addAndGet(by.toMillis());
    }

    /** A monotonic nanosecond reading on this clock, for code that takes a nano-time source. */
    public long nanos() {
        return TimeUnit.MILLISECONDS.toNanos(millis.get());
    }

    @Override
    public long millis() {
        return millis.get();
    }

    @Override
    public Instant instant() {
        return Instant.ofEpochMilli(millis.get());
    }

    @Override
    public ZoneId getZone() {
        return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
        throw new UnsupportedOperationException("a manual clock is in UTC");
    }
}
