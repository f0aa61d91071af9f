package io.cohort.protocol;

import io.cohort.protocol.v1.BranchStatusCode;

/** Status of one branch. Codes are stable (stored and sent on the wire). */
public enum BranchStatus {
    REGISTERED(1),
    PHASE1_FAILED(2),
    PHASE2_COMMITTED(3),
    PHASE2_COMMIT_FAILED_RETRYABLE(4),
    PHASE2_ROLLBACKED(5),
    PHASE2_ROLLBACK_FAILED_RETRYABLE(6),
    /** Rollback found rows changed outside the global transaction; the branch waits for a person. */
    PHASE2_ROLLBACK_FAILED_DIRTY(7),
    PHASE2_COMMIT_FAILED_UNRETRYABLE(8),
    PHASE2_ROLLBACK_FAILED_UNRETRYABLE(9),
    VOTED_YES(10),
    VOTED_NO(11),
    PRE_COMMITTED(12);

    private static final BranchStatus[] BY_CODE = new BranchStatus[13];
    static {
        for (BranchStatus s : values()) {
            BY_CODE[s.code] = s;
        }
    }

    private final int code;

    BranchStatus(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The branch failed in a way that retrying will not fix. */
    public boolean isUnretryableFailure() {
        return this == PHASE2_ROLLBACK_FAILED_DIRTY || this == PHASE2_COMMIT_FAILED_UNRETRYABLE
                || this == PHASE2_ROLLBACK_FAILED_UNRETRYABLE;
    }

    public static BranchStatus ofCode(int code) {
        BranchStatus s = code > 0 && code < BY_CODE.length ? BY_CODE[code] : null;
        if (s == null) {
            throw new IllegalArgumentException("Unknown branch status code " + code);
        }
        return s;
    }

    public BranchStatusCode toWire() {
        return BranchStatusCode.forNumber(code);
    }

    public static BranchStatus fromWire(BranchStatusCode wire) {
        return ofCode(wire.getNumber());
    }
}
