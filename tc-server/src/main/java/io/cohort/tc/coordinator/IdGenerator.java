package io.cohort.tc.coordinator;

import io.cohort.protocol.Xid;
import java.security.SecureRandom;
import java.time.Clock;
import java.util.concurrent.atomic.AtomicLong;

/**
 * XIDs and branch ids. The counter starts at the start time in microseconds, so ids keep growing
 * across restarts (unless more than a million were issued per second of downtime): with the TC's
 * address that makes every XID unique. Each XID also carries a tag of 64 bits from a
 * {@link SecureRandom}, so it cannot be computed from the XIDs before it (see {@link Xid}).
 *
 * <p>Branch ids stay plain numbers carrying 10 bits of the node, so replicas sharing a store do not
 * collide: a branch is only ever addressed together with its XID, whose tag already guards it.
 */
public final class IdGenerator {

    private final AtomicLong counter;
    private final int nodeBits;
    private final String nodeAddress;
    private final SecureRandom random = new SecureRandom();

    public IdGenerator(Clock clock, String nodeAddress) {
        if (nodeAddress.length() > Xid.MAX_ADDRESS_LENGTH) {
            throw new IllegalArgumentException("The TC's advertised address '" + nodeAddress + "' is "
                    + nodeAddress.length() + " characters; XIDs carry it, so it may have at most "
                    + Xid.MAX_ADDRESS_LENGTH + ": set a shorter cohort.tc.advertised-address (host:port)");
        }
        this.counter = new AtomicLong(clock.millis() * 1000);
        this.nodeBits = nodeAddress.hashCode() & 0x3FF;
        this.nodeAddress = nodeAddress;
    }

    public Xid nextXid() {
        return Xid.tagged(nodeAddress, counter.incrementAndGet(), random);
    }

    public long nextBranchId() {
        return (counter.incrementAndGet() << 10) | nodeBits;
    }
}
