package io.cohort.client;

import io.cohort.protocol.v1.ErrorCode;

/**
 * The TC answered, but its store could not write (disk full, database down): it refused the request
 * and changed nothing. Retriable: the same request can succeed once the store writes again.
 *
 * <p>Unlike {@link TcUnavailableException} the TC is there, so this does not count against the
 * client's circuit breaker; calls that are safe to repeat are retried like calls no TC answered.
 */
public class TcStoreUnavailableException extends TcException {

    public TcStoreUnavailableException(String message, Throwable cause) {
        super(message, ErrorCode.STORE_UNAVAILABLE, true, cause);
    }
}
