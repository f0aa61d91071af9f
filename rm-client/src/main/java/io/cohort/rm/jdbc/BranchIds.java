package io.cohort.rm.jdbc;

import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.random.RandomGenerator;

/**
 * Branch ids chosen by the RM (protocol minor 7), so that a branch's undo log can be written before
 * the TC answers its registration. 63 random bits from a {@link SecureRandom}: no coordination is
 * needed to hand out RM-instance bits, nothing can be learned from an id, and two of {@code n} live
 * branches share an id with probability about n²/2⁶⁴ (the TC refuses a taken id cleanly, and an
 * id matters only together with its XID). The TC keeps registration order apart from the ids.
 *
 * <p>The bits are drawn {@value #BLOCK} ids at a time: each draw from the default SecureRandom
 * (NativePRNG) takes its process-wide lock and reads the OS source, 0.5-3 µs under load, and every
 * branch needs an id (issue 15: {@code next} was 1.5% of the transfer benchmark's client CPU).
 */
final class BranchIds {

    /** Ids drawn at once. */
    static final int BLOCK = 32;

    private static final BranchIds SHARED = new BranchIds(new SecureRandom());

    private final RandomGenerator random;
    private final long[] block = new long[BLOCK];
    private int left; // guarded by this

    BranchIds(RandomGenerator random) {
        this.random = random;
    }

    /** A positive id. */
    static long next() {
        return SHARED.nextId();
    }

    synchronized long nextId() {
        long id;
        do {
            if (left == 0) {
                byte[] bytes = new byte[BLOCK * Long.BYTES];
                random.nextBytes(bytes);
                ByteBuffer.wrap(bytes).asLongBuffer().get(block);
                left = BLOCK;
            }
            id = block[--left] & Long.MAX_VALUE;
            block[left] = 0; // handed out: not kept
        } while (id == 0); // 0 asks the TC to assign one
        return id;
    }
}
