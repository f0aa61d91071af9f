package io.cohort.tm;

/** {@link Propagation#MANDATORY} found no global transaction, or {@link Propagation#NEVER} found one. */
public class GlobalTransactionPropagationException extends GlobalTransactionException {

    public GlobalTransactionPropagationException(String message, String xid) {
        super(message, xid, null);
    }
}
