package io.cohort.protocol;

import io.cohort.protocol.v1.GlobalStatusCode;

/**
 * Status of a global transaction. Codes are stable: they are stored in the TC's log and tables and
 * sent on the wire, so a value is never renumbered or reused.
 *
 * <p>The allowed transitions live in one place, the TC's {@code GlobalStateMachine}.
 */
public enum GlobalStatus {
    BEGIN(1, Phase.ACTIVE),
    COMMITTING(2, Phase.COMMITTING),
    COMMIT_RETRYING(3, Phase.COMMITTING),
    ASYNC_COMMITTING(4, Phase.COMMITTING),
    COMMITTED(5, Phase.FINISHED),
    ROLLBACKING(6, Phase.ROLLING_BACK),
    ROLLBACK_RETRYING(7, Phase.ROLLING_BACK),
    TIMEOUT_ROLLBACKING(8, Phase.ROLLING_BACK),
    ROLLBACKED(9, Phase.FINISHED),
    TIMEOUT_ROLLBACKED(10, Phase.FINISHED),
    /** 3PC: the TC is collecting CanCommit votes; nothing is decided (a crash here aborts). */
    PRE_COMMITTING(11, Phase.VOTING),
    /** 3PC: every branch voted yes and the decision to commit is durable. */
    PRE_COMMITTED(12, Phase.COMMITTING),
    /** Commit could not be completed within the retry budget: a person must look (REST API retry). */
    COMMIT_FAILED(13, Phase.NEEDS_PERSON),
    /** Rollback could not be completed (retries spent, or dirty data found): a person must look. */
    ROLLBACK_FAILED(14, Phase.NEEDS_PERSON),
    TIMEOUT_ROLLBACK_RETRYING(15, Phase.ROLLING_BACK);

    /** Coarse grouping used by the driver and by queries. */
    public enum Phase { ACTIVE, VOTING, COMMITTING, ROLLING_BACK, FINISHED, NEEDS_PERSON }

    private static final GlobalStatus[] BY_CODE = new GlobalStatus[16];
    static {
        for (GlobalStatus s : values()) {
            BY_CODE[s.code] = s;
        }
    }

    private final int code;
    private final Phase phase;

    GlobalStatus(int code, Phase phase) {
        this.code = code;
        this.phase = phase;
    }

    public int code() {
        return code;
    }

    public Phase phase() {
        return phase;
    }

    /** Committed, rolled back or timed-out-rolled-back: nothing more will ever happen. */
    public boolean isFinal() {
        return phase == Phase.FINISHED;
    }

    /** The TC has stopped driving it on its own: either final, or waiting for a person. */
    public boolean isEnded() {
        return phase == Phase.FINISHED || phase == Phase.NEEDS_PERSON;
    }

    /** The outcome is (or will be) commit. */
    public boolean isCommitDecided() {
        return phase == Phase.COMMITTING || this == COMMITTED || this == COMMIT_FAILED;
    }

    /** The outcome is (or will be) rollback. */
    public boolean isRollbackDecided() {
        return phase == Phase.ROLLING_BACK || this == ROLLBACKED || this == TIMEOUT_ROLLBACKED
                || this == ROLLBACK_FAILED;
    }

    public static GlobalStatus ofCode(int code) {
        GlobalStatus s = code > 0 && code < BY_CODE.length ? BY_CODE[code] : null;
        if (s == null) {
            throw new IllegalArgumentException("Unknown global status code " + code);
        }
        return s;
    }

    public GlobalStatusCode toWire() {
        return GlobalStatusCode.forNumber(code);
    }

    public static GlobalStatus fromWire(GlobalStatusCode wire) {
        return ofCode(wire.getNumber());
    }
}
