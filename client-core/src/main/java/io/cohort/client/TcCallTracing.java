package io.cohort.client;

import io.cohort.protocol.TraceKeys;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.transport.Kind;
import io.micrometer.observation.transport.SenderContext;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * One observation per call to the TC, carrying the caller's trace to it: the observation's context
 * is a {@link SenderContext} over a {@link Metadata}, into which the tracer's propagator (Boot's:
 * W3C {@code traceparent}) writes when the observation starts; {@link #interceptor} copies those
 * headers onto the gRPC call made while the observation is in scope, next to the XID in the request.
 * With the NOOP registry none of this is created.
 */
final class TcCallTracing {

    private final ObservationRegistry registry;

    TcCallTracing(ObservationRegistry registry) {
        this.registry = registry;
    }

    boolean enabled() {
        return !registry.isNoop();
    }

    /** Runs {@code body} (which makes the gRPC calls, retries included) inside the call's observation. */
    <T> T observe(String operation, String xid, Supplier<T> body) {
        CallContext context = new CallContext();
        return Observation.createNotStarted(TraceKeys.TC_CALL, () -> context, registry)
                .contextualName("cohort " + operation)
                .lowCardinalityKeyValue(TraceKeys.OPERATION, operation)
                .highCardinalityKeyValue(TraceKeys.XID, xid == null || xid.isEmpty() ? TraceKeys.NONE : xid)
                .observe(body);
    }

    /** Names the XID on the call in scope (begin learns it from the answer). */
    void tagXid(String xid) {
        Observation current = registry.getCurrentObservation();
        if (current != null && current.getContext() instanceof CallContext) {
            current.highCardinalityKeyValue(TraceKeys.XID, xid);
        }
    }

    /**
     * The trace headers of the TC call's observation in scope, for a frame of the Calls stream (which
     * carries calls of many traces, so they travel per frame); empty when there is none.
     */
    Map<String, String> currentHeaders() {
        Observation current = registry.getCurrentObservation();
        if (current == null || !(current.getContext() instanceof CallContext context)) {
            return Map.of();
        }
        Metadata carrier = context.getCarrier();
        Map<String, String> headers = new HashMap<>();
        for (String key : carrier.keys()) {
            if (!key.endsWith(Metadata.BINARY_HEADER_SUFFIX)) {
                String value = carrier.get(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER));
                if (value != null) {
                    headers.put(key, value);
                }
            }
        }
        return headers;
    }

    /** Adds the trace headers of the observation in scope, if it is a TC call's. */
    ClientInterceptor interceptor() {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
                Observation current = registry.getCurrentObservation();
                ClientCall<Q, R> call = next.newCall(method, options);
                if (current == null || !(current.getContext() instanceof CallContext context)) {
                    return call;
                }
                return new ForwardingClientCall.SimpleForwardingClientCall<>(call) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        headers.merge(context.getCarrier());
                        super.start(listener, headers);
                    }
                };
            }
        };
    }

    static final class CallContext extends SenderContext<Metadata> {
        CallContext() {
            super((carrier, key, value) -> carrier.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), value),
                    Kind.CLIENT);
            setCarrier(new Metadata());
            setRemoteServiceName("cohort-tc");
        }
    }
}
