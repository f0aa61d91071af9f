package io.cohort.tc.coordinator;

import java.time.Clock;
import java.util.concurrent.atomic.AtomicLong;

/**
 * XID sequences and branch ids. The counter starts at the start time in microseconds, so ids keep
 * growing across restarts (unless more than a million were issued per second of downtime), and
 * branch ids carry 10 bits of the node so replicas sharing a store do not collide.
 */
public final class IdGenerator {

    private final AtomicLong counter;
    private final int nodeBits;

    public IdGenerator(Clock clock, String nodeAddress) {
        this.counter = new AtomicLong(clock.millis() * 1000);
        this.nodeBits = nodeAddress.hashCode() & 0x3FF;
    }

    public long nextXidSequence() {
        return counter.incrementAndGet();
    }

    public long nextBranchId() {
        return (counter.incrementAndGet() << 10) | nodeBits;
    }
}
