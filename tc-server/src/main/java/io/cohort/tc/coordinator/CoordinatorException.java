package io.cohort.tc.coordinator;

import io.cohort.protocol.v1.ErrorCode;

/**
 * A request the coordinator refuses, with the reason a client can act on. The RPC layer turns it
 * into a gRPC status carrying {@link #errorCode()}; the REST layer into an HTTP error.
 */
public class CoordinatorException extends RuntimeException {

    private final ErrorCode errorCode;

    public CoordinatorException(ErrorCode errorCode, String message) {
        super(message);
        this.errorCode = errorCode;
    }

    public ErrorCode errorCode() {
        return errorCode;
    }

    /** @param why the store's {@code whyUnknown()}: what may have become of it */
    public static CoordinatorException unknownXid(String xid, String why) {
        return new CoordinatorException(ErrorCode.UNKNOWN_XID, "Unknown XID " + xid
                + ": no such global transaction on this TC (" + why + ")");
    }

    public static CoordinatorException invalid(String message) {
        return new CoordinatorException(ErrorCode.INVALID_REQUEST, message);
    }
}
