package io.cohort.tc.support;

import java.time.Clock;
import java.time.Duration;
import org.slf4j.Logger;

/**
 * Logs at most {@code perWindow} warnings of one kind per window and counts the rest, so an
 * attacker who repeats a bad request cannot flood the log; the count is logged when the next
 * window opens. One throttle per kind of warning (a constant, never a value from a request).
 */
public final class WarningThrottle {

    private final Logger log;
    private final String kind;
    private final int perWindow;
    private final long windowMillis;
    private final Clock clock;
    private long windowStart;
    private int logged;
    private long suppressed;

    public WarningThrottle(Logger log, String kind, int perWindow, Duration window, Clock clock) {
        this.log = log;
        this.kind = kind;
        this.perWindow = perWindow;
        this.windowMillis = window.toMillis();
        this.clock = clock;
    }

    /** Logs {@code format} with {@code args} (already made safe, see {@link LogText}) unless this window is full. */
    public void warn(String format, Object... args) {
        long now = clock.millis();
        long dropped = 0;
        boolean log;
        synchronized (this) {
            if (now - windowStart >= windowMillis) {
                dropped = suppressed;
                suppressed = 0;
                logged = 0;
                windowStart = now;
            }
            log = logged < perWindow;
            if (log) {
                logged++;
            } else {
                suppressed++;
            }
        }
        if (dropped > 0) {
            this.log.warn("{} more warnings of kind '{}' were not logged in the last {} ms", dropped, kind, windowMillis);
        }
        if (log) {
            this.log.warn(format, args);
        }
    }
}
