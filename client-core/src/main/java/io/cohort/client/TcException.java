package io.cohort.client;

import io.cohort.protocol.v1.ErrorCode;

/**
 * The TC refused a request or could not be asked. {@link #errorCode()} says which case;
 * {@link #isRetriable()} whether trying again later can succeed.
 */
public class TcException extends RuntimeException {

    private final ErrorCode errorCode;
    private final boolean retriable;

    public TcException(String message, ErrorCode errorCode, boolean retriable, Throwable cause) {
        super(message, cause);
        this.errorCode = errorCode;
        this.retriable = retriable;
    }

    public ErrorCode errorCode() {
        return errorCode;
    }

    public boolean isRetriable() {
        return retriable;
    }
}
