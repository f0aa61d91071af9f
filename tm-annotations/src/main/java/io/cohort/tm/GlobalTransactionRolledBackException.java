package io.cohort.tm;

import io.cohort.protocol.GlobalStatus;

/**
 * Commit was asked for, but the global transaction was (or is being) rolled back — typically because
 * it ran past its timeout, or a branch failed. Every branch is undone; nothing was committed.
 */
public class GlobalTransactionRolledBackException extends GlobalTransactionException {

    private final GlobalStatus status;

    public GlobalTransactionRolledBackException(String xid, GlobalStatus status, String reason, Throwable cause) {
        super("Global transaction " + xid + " was rolled back instead of committed"
                + (isTimeout(status) ? " because it timed out" : "") + " (TC status " + status
                + (reason == null || reason.isBlank() ? "" : ": " + reason) + ")", xid, cause);
        this.status = status;
    }

    private static boolean isTimeout(GlobalStatus status) {
        return status == GlobalStatus.TIMEOUT_ROLLBACKING || status == GlobalStatus.TIMEOUT_ROLLBACK_RETRYING
                || status == GlobalStatus.TIMEOUT_ROLLBACKED;
    }

    /** The rollback status the TC reported (ROLLBACKING, TIMEOUT_ROLLBACKED, ...). */
    public GlobalStatus status() {
        return status;
    }
}
