package io.cohort.tc.store;

/** The store could not read or write (disk full, I/O error, database down). Retriable later. */
public class StoreUnavailableException extends RuntimeException {

    public StoreUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }

    public StoreUnavailableException(String message) {
        super(message);
    }
}
