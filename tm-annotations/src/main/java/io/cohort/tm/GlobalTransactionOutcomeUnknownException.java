package io.cohort.tm;

/**
 * The TM asked the TC to commit but never got an answer it could trust: the global transaction may
 * have committed or may be rolled back. Do not assume either; look it up in the TC's API
 * ({@code GET /api/v1/transactions/{xid}}) or ask again with {@code TcClient.status(xid)}.
 */
public class GlobalTransactionOutcomeUnknownException extends GlobalTransactionException {

    public GlobalTransactionOutcomeUnknownException(String message, String xid, Throwable cause) {
        super(message, xid, cause);
    }
}
