package io.cohort.protocol;

import io.grpc.Metadata;

/** Constants shared by every side of the wire. */
public final class Protocol {

    /**
     * Minor version of cohort.v1 this build speaks; bumped when fields are added (2: 3PC REDO,
     * decided_by_rm; 3: the protocol in RegisterBranchResponse; 4: MarkRollbackOnly; 5: a branch command's
     * trace_context; 6: lock waits at the TC, lock_wait_ms and waited_ms; 7: branch ids chosen by the RM;
     * 8: XIDs the TM makes, TransactionCreation, BeginResponse.protocol_minor; 9: the Calls stream; 10: several calls or answers per Calls stream message).
     */
    public static final int PROTOCOL_MINOR = 10;

    /** The first minor whose TC takes the branch id an RM chose (RegisterBranchRequest.branch_id). */
    public static final int MINOR_RM_BRANCH_IDS = 7;

    /** The first minor whose TC creates a transaction from a TM-made XID ({@link Xid#tmMade}): no Begin call. */
    public static final int MINOR_BEGINLESS = 8;

    /** The first minor whose TC serves the Calls stream (every unary call as a frame on one stream). */
    public static final int CALLS_STREAM_MINOR = 9;

    /** The first minor whose Calls stream peers send several calls or answers in one message (the frames' {@code batch}). */
    public static final int CALLS_BATCH_MINOR = 10;

    /**
     * Opening header of a Calls stream: the client's minor. From {@link #CALLS_BATCH_MINOR} on the TC may
     * send it several answers in one message; without it (an older client) one answer per message.
     */
    public static final Metadata.Key<String> CALLS_MINOR_HEADER =
            Metadata.Key.of("cohort-calls-minor", Metadata.ASCII_STRING_MARSHALLER);

    /** HTTP header that carries the XID between services. */
    public static final String XID_HEADER = "Cohort-Xid";

    /** gRPC metadata key that carries the XID between services. */
    public static final Metadata.Key<String> XID_METADATA =
            Metadata.Key.of("cohort-xid", Metadata.ASCII_STRING_MARSHALLER);

    /** Trailer naming the {@link io.cohort.protocol.v1.ErrorCode} of a failed call. */
    public static final Metadata.Key<String> ERROR_CODE_TRAILER =
            Metadata.Key.of("cohort-error-code", Metadata.ASCII_STRING_MARSHALLER);

    /** Bearer token sent by clients when the TC requires authentication. */
    public static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    public static final int DEFAULT_GRPC_PORT = 8091;

    private Protocol() {
    }
}
