package io.cohort.tc.model;

/**
 * Who or what moved a transaction or a branch, as its status history records it. Codes are stable
 * (written to the embedded log and the PostgreSQL history table): never renumber or reuse one.
 */
public enum ChangeCause {
    /** Recorded before causes were (an older log): unknown. */
    UNKNOWN(0),
    /** The TM: begin, commit, rollback (and a 3PC commit's vote). */
    TM(1),
    /** An RM: a branch registered, failed in phase 1, or finished on its own. */
    RM(2),
    /** The transaction's timeout passed in BEGIN. */
    TIMEOUT(3),
    /** The TC driving phase 2: branch results, retries, giving up, and recovery after a restart. */
    TC(4),
    /** A person through the REST API or the console; the reason names the token's role and address. */
    OPERATOR(5);

    private final int code;

    ChangeCause(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    public static ChangeCause ofCode(int code) {
        for (ChangeCause c : values()) {
            if (c.code == code) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown change cause code " + code);
    }
}
