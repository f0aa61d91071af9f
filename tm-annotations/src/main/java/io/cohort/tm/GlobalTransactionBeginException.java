package io.cohort.tm;

/** The global transaction could not be begun: the TC did not answer or refused. The method body did not run. */
public class GlobalTransactionBeginException extends GlobalTransactionException {

    public GlobalTransactionBeginException(String message, Throwable cause) {
        super(message, null, cause);
    }
}
