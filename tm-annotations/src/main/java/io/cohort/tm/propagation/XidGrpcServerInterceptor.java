package io.cohort.tm.propagation;

import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * Binds the incoming {@code cohort-xid} metadata to the thread around every callback of the call
 * (gRPC may run each one on a different executor thread), and restores the thread's previous
 * binding after each, so no executor thread keeps it. A malformed XID fails the call with
 * INVALID_ARGUMENT and the reason.
 */
public final class XidGrpcServerInterceptor implements ServerInterceptor {

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        String xid;
        try {
            xid = XidPropagation.parse(headers.get(Protocol.XID_METADATA));
        } catch (IllegalArgumentException malformed) {
            call.close(Status.INVALID_ARGUMENT.withDescription("Bad cohort-xid metadata: " + malformed.getMessage()),
                    new Metadata());
            return new ServerCall.Listener<>() { };
        }
        if (xid == null) {
            return next.startCall(call, headers);
        }
        ServerCall.Listener<Q> delegate = XidContext.runWith(xid, () -> next.startCall(call, headers));
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(delegate) {
            @Override
            public void onMessage(Q message) {
                XidContext.runWith(xid, () -> {
                    super.onMessage(message);
                    return null;
                });
            }

            @Override
            public void onHalfClose() {
                XidContext.runWith(xid, () -> {
                    super.onHalfClose();
                    return null;
                });
            }

            @Override
            public void onCancel() {
                XidContext.runWith(xid, () -> {
                    super.onCancel();
                    return null;
                });
            }

            @Override
            public void onComplete() {
                XidContext.runWith(xid, () -> {
                    super.onComplete();
                    return null;
                });
            }

            @Override
            public void onReady() {
                XidContext.runWith(xid, () -> {
                    super.onReady();
                    return null;
                });
            }
        };
    }
}
