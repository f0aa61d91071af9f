package io.cohort.tm.propagation;

import io.cohort.client.TmMadeXids;
import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;

/**
 * Sends the bound XID as {@code cohort-xid} metadata on outgoing gRPC calls. The XID is read when
 * the call is created, on the caller's thread, so async stubs carry it too.
 */
public final class XidGrpcClientInterceptor implements ClientInterceptor {

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
        String xid = XidContext.current();
        ClientCall<Q, R> call = next.newCall(method, options);
        if (xid == null) {
            return call;
        }
        TmMadeXids.announce(xid); // the callee's RM must find the transaction at the TC
        return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
            @Override
            public void start(Listener<R> listener, Metadata headers) {
                headers.discardAll(Protocol.XID_METADATA);
                headers.put(Protocol.XID_METADATA, xid);
                super.start(listener, headers);
            }
        };
    }
}
