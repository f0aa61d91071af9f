package io.cohort.tm;

/**
 * Rollback was asked for (the method threw) but the TC did not confirm it. Added as a suppressed
 * exception to the business exception, which is rethrown. A global transaction the TC never heard
 * the rollback of is still rolled back by the TC when its timeout expires.
 */
public class GlobalTransactionRollbackFailedException extends GlobalTransactionException {

    public GlobalTransactionRollbackFailedException(String message, String xid, Throwable cause) {
        super(message, xid, cause);
    }
}
