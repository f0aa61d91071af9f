package io.cohort.tc.support;

import io.cohort.protocol.TraceKeys;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.transport.Kind;
import io.micrometer.observation.transport.ReceiverContext;
import io.micrometer.observation.transport.SenderContext;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.MDC;

/**
 * The TC's spans and its log context. Through Micrometer Observation, so Boot's tracing (the
 * OpenTelemetry bridge the TC ships with) turns them into spans with no code here knowing a tracer:
 * <ul>
 *   <li>{@link #request}: one span per gRPC request (begin, registerBranch, commit, ...), the child of
 *       the caller's span named in the request's {@code traceparent} metadata, when the caller sampled it;</li>
 *   <li>{@link #command}: one span per phase-2 command sent to an RM, the child of the request that
 *       decided the transaction (commit, rollback), whose context travels in the command's
 *       {@code trace_context} — a stream's metadata belongs to no single transaction.</li>
 * </ul>
 * The decision's span is remembered per XID ({@link #decided}) until the transaction ends
 * ({@link #ended}), because phase 2 runs later, on other threads. With the NOOP registry nothing is
 * remembered or created.
 *
 * <p>{@link #inScope} and {@link #withXid} put the XID in the log's MDC (key {@value #MDC_XID}; the trace id is put there
 * by the tracer when a span's scope is open) for the TC's log lines about one transaction.
 */
public final class TcObservations {

    /** MDC key of the XID in the TC's log lines (the log pattern prints it). */
    public static final String MDC_XID = "xid";

    private static final Context.Key<Metadata> HEADERS = Context.key("cohort-request-headers");
    private static final Metadata.Key<String> TRACEPARENT = Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> B3 = Metadata.Key.of("b3", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> B3_TRACE_ID = Metadata.Key.of("x-b3-traceid", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> B3_SAMPLED = Metadata.Key.of("x-b3-sampled", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> TRACESTATE = Metadata.Key.of("tracestate", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> B3_SPAN_ID = Metadata.Key.of("x-b3-spanid", Metadata.ASCII_STRING_MARSHALLER);
    private static final Metadata.Key<String> B3_PARENT_SPAN_ID =
            Metadata.Key.of("x-b3-parentspanid", Metadata.ASCII_STRING_MARSHALLER);

    private final ObservationRegistry registry;
    private final Map<String, Observation> decisions = new ConcurrentHashMap<>();

    public TcObservations(ObservationRegistry registry) {
        this.registry = registry == null ? ObservationRegistry.NOOP : registry;
    }

    public static TcObservations noop() {
        return new TcObservations(ObservationRegistry.NOOP);
    }

    public boolean enabled() {
        return !registry.isNoop();
    }

    /** Keeps each request's metadata in the gRPC context, where {@link #request} reads the caller's trace. */
    public ServerInterceptor headersInterceptor() {
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                               ServerCallHandler<Q, R> next) {
                return Contexts.interceptCall(Context.current().withValue(HEADERS, headers), call, headers, next);
            }
        };
    }

    /**
     * {@code base} with the trace headers of one frame of a Calls stream in place of a unary
     * request's metadata, for {@link #request}; only the trace keys are taken, and never the stream's
     * own metadata (a stream carries calls of many traces).
     */
    public Context withTraceHeaders(Context base, Map<String, String> traceHeaders) {
        if (!enabled()) {
            return base;
        }
        if (traceHeaders.isEmpty()) {
            return base.withValue(HEADERS, null); // an untraced caller's frame: no span, as for a unary call without them
        }
        Metadata headers = new Metadata();
        for (Metadata.Key<String> key : List.of(TRACEPARENT, TRACESTATE, B3, B3_TRACE_ID, B3_SPAN_ID, B3_PARENT_SPAN_ID,
                B3_SAMPLED)) {
            String value = traceHeaders.get(key.name());
            if (value != null) {
                headers.put(key, value);
            }
        }
        return base.withValue(HEADERS, headers);
    }

    /**
     * A started span for a request of {@code operation} on {@code xid} (null before begin); stop it when
     * answered. Only for a caller whose trace is sampled: a request without a sampled trace context
     * gets {@link Observation#NOOP} (no span, no timer, no scope), since its span would be a root span of
     * one call that the sampler mostly drops, and observing it cost about a quarter of the TC's CPU per
     * transaction (bench/MEASUREMENTS.md, "The TC alone").
     */
    public Observation request(String operation, String xid) {
        return enabled() ? request(operation, xid, HEADERS.get()) : Observation.NOOP;
    }

    Observation request(String operation, String xid, Metadata headers) {
        if (!enabled() || !sampledCaller(headers)) {
            return Observation.NOOP;
        }
        ReceiverContext<Metadata> context = new ReceiverContext<>(
                (carrier, key) -> carrier.get(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER)), Kind.SERVER);
        context.setCarrier(headers);
        return Observation.createNotStarted(TraceKeys.TC_REQUEST, () -> context, registry)
                .contextualName("cohort.tc " + operation)
                .lowCardinalityKeyValue(TraceKeys.OPERATION, operation)
                .highCardinalityKeyValue(TraceKeys.XID, xid == null || xid.isEmpty() ? TraceKeys.NONE : xid)
                .start();
    }

    /**
     * Whether the request's metadata carries a trace context its caller sampled: W3C {@code traceparent}
     * with the sampled flag, or B3 ({@code b3}, {@code x-b3-traceid}) not marked unsampled.
     */
    static boolean sampledCaller(Metadata headers) {
        if (headers == null) {
            return false;
        }
        String traceparent = headers.get(TRACEPARENT);
        if (traceparent != null) {
            // version-traceid-parentid-flags; bit 0 of the flags is "sampled"
            int dash = traceparent.lastIndexOf('-');
            if (dash < 0 || dash + 3 != traceparent.length()) {
                return false;
            }
            int flags = Character.digit(traceparent.charAt(dash + 2), 16);
            return flags >= 0 && (flags & 1) == 1;
        }
        String b3 = headers.get(B3);
        if (b3 != null) {
            return !b3.equals("0") && !b3.contains("-0-") && !b3.endsWith("-0");
        }
        return headers.get(B3_TRACE_ID) != null && !"0".equals(headers.get(B3_SAMPLED));
    }

    /**
     * {@code observation} decided {@code xid} (commit, rollback): its phase-2 commands become its
     * children. A decision that was not observed ({@link Observation#NOOP}: its caller's trace was not
     * sampled) is remembered too, so that its commands are not observed either.
     */
    public void decided(String xid, Observation observation) {
        if (enabled()) {
            decisions.put(xid, observation);
        }
    }

    /** {@code xid} ended, or this replica no longer drives it. */
    public void ended(String xid) {
        if (enabled()) {
            decisions.remove(xid);
        }
    }

    /** Forgets every remembered decision but those of {@code keep}. */
    public void retainOnly(java.util.Set<String> keep) {
        if (enabled() && !decisions.isEmpty()) {
            decisions.keySet().retainAll(keep);
        }
    }

    /**
     * A started span for a command sent to a branch; its context, to put in the command, is
     * {@link Command#traceContext()}. Stop it with the branch's answer. A root span (sampled as the TC's
     * own, e.g. recovery) when no request decided {@code xid}; none when an unobserved request did.
     */
    public Command command(String xid, long branchId, String resourceId, String action) {
        Observation decision = enabled() ? decisions.get(xid) : Observation.NOOP;
        if (decision == Observation.NOOP) {
            return new Command(Observation.NOOP, Map.of()); // off, or the decision was not observed
        }
        Map<String, String> carrier = new HashMap<>();
        SenderContext<Map<String, String>> context = new SenderContext<>((c, k, v) -> c.put(k, v), Kind.PRODUCER);
        context.setCarrier(carrier);
        context.setRemoteServiceName("cohort-rm");
        String name = action.toLowerCase(Locale.ROOT);
        Observation observation = Observation.createNotStarted(TraceKeys.TC_BRANCH_COMMAND, () -> context, registry)
                .contextualName("cohort.tc send " + name)
                .parentObservation(decision)
                .lowCardinalityKeyValue(TraceKeys.ACTION, name)
                .lowCardinalityKeyValue(TraceKeys.RESOURCE_ID, resourceId)
                .lowCardinalityKeyValue(TraceKeys.OUTCOME, "unknown")
                .highCardinalityKeyValue(TraceKeys.XID, xid)
                .highCardinalityKeyValue(TraceKeys.BRANCH_ID, Long.toString(branchId))
                .start();
        return new Command(observation, carrier);
    }

    /** A command's span and the trace context that goes with the command. */
    public record Command(Observation observation, Map<String, String> traceContext) {

        /** The RM answered (outcome: the branch status) or the command failed. */
        public void answered(String outcome, Throwable error) {
            if (observation == Observation.NOOP) {
                return;
            }
            if (outcome != null) {
                observation.lowCardinalityKeyValue(TraceKeys.OUTCOME, outcome.toLowerCase(Locale.ROOT));
            }
            if (error != null) {
                observation.error(error);
            }
            observation.stop();
        }
    }

    /**
     * Runs {@code body} with {@code xid} in the MDC and {@code scope}'s span (may be null) current, so
     * the log lines it writes carry both; whatever was in the MDC before is put back.
     */
    public void inScope(String xid, Observation scope, Runnable body) {
        if (scope == null || scope == Observation.NOOP || registry.getCurrentObservation() == scope) {
            withXid(xid, body);
        } else {
            withXid(xid, () -> scope.scoped(body));
        }
    }

    /** Runs {@code body} with {@code xid} in the MDC; whatever was there before is put back. */
    public static void withXid(String xid, Runnable body) {
        String before = MDC.get(MDC_XID);
        if (xid != null && !xid.isEmpty()) {
            MDC.put(MDC_XID, LogText.safe(xid));
        }
        try {
            body.run();
        } finally {
            if (before == null) {
                MDC.remove(MDC_XID);
            } else {
                MDC.put(MDC_XID, before);
            }
        }
    }

    /** The span remembered as {@code xid}'s decision ({@link Observation#NOOP} for an unobserved one), or null. */
    public Observation decision(String xid) {
        return enabled() ? decisions.get(xid) : null;
    }
}
