package io.cohort.tm;

/**
 * Base of the TM's exceptions. Unchecked; carries the XID (null when no global transaction was
 * begun) so a person can look the transaction up in the TC's API: {@code GET /api/v1/transactions/{xid}}.
 */
public class GlobalTransactionException extends RuntimeException {

    private final String xid;

    public GlobalTransactionException(String message, String xid, Throwable cause) {
        super(message, cause);
        this.xid = xid;
    }

    /** The global transaction concerned, or null. */
    public String xid() {
        return xid;
    }
}
