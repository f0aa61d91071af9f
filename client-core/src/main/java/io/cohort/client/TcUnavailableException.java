package io.cohort.client;

import io.cohort.protocol.v1.ErrorCode;

/** No TC answered (down, unreachable, or the circuit breaker is open). The request may or may not have arrived. */
public class TcUnavailableException extends TcException {

    public TcUnavailableException(String message, Throwable cause) {
        super(message, ErrorCode.ERROR_UNSPECIFIED, true, cause);
    }
}
