package io.cohort.rm;

import java.sql.SQLTransientException;
import java.time.Duration;

/**
 * Rows this local transaction writes (or locks) are held by another global transaction, and the
 * retries ran out. The local transaction has been rolled back. SQLState {@code 55P03}
 * (lock not available); retrying the whole business operation later can succeed.
 */
public class GlobalLockConflictException extends SQLTransientException {

    private final String holderXid;
    private final String lockKey;

    public GlobalLockConflictException(String lockKey, String holderXid, long heldSinceEpochMs, int attempts,
                                       Duration waited, String ownXid, long nowEpochMs, boolean holderRollingBack) {
        super("Global lock on " + lockKey + " is held by global transaction " + holderXid
                + (heldSinceEpochMs > 0 ? " (held for " + (nowEpochMs - heldSinceEpochMs) + " ms)" : "")
                + (holderRollingBack
                        ? ", which is rolling back and needs these rows to undo its own change; gave up at once"
                        : "; gave up after " + attempts + " attempts in " + waited.toMillis() + " ms")
                + (ownXid == null ? " (local transaction under GlobalLock)" : " (global transaction " + ownXid + ")")
                + ". The local transaction was rolled back; retry later"
                + (holderRollingBack ? "." : ", or raise cohort.rm.lock-retry-attempts"
                + " / cohort.rm.lock-retry-interval if such waits are expected."), "55P03");
        this.holderXid = holderXid;
        this.lockKey = lockKey;
    }

    public String holderXid() {
        return holderXid;
    }

    public String lockKey() {
        return lockKey;
    }
}
