package io.cohort.rm.jdbc;

import java.security.SecureRandom;

/**
 * Branch ids chosen by the RM (protocol minor 7), so that a branch's undo log can be written before
 * the TC answers its registration. 63 random bits from a {@link SecureRandom}: no coordination is
 * needed to hand out RM-instance bits, nothing can be learned from an id, and two of {@code n} live
 * branches share an id with probability about n²/2⁶⁴ (the TC refuses a taken id cleanly, and an
 * id matters only together with its XID). The TC keeps registration order apart from the ids.
 */
final class BranchIds {

    private static final SecureRandom RANDOM = new SecureRandom();

    private BranchIds() {
    }

    /** A positive id. */
    static long next() {
        long id;
        do {
            id = RANDOM.nextLong() & Long.MAX_VALUE;
        } while (id == 0); // 0 asks the TC to assign one
        return id;
    }
}
