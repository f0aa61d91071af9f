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
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.MDC;

/**
 * The TC's spans and its log context. Through Micrometer Observation, so Boot's tracing (the
 * OpenTelemetry bridge the TC ships with) turns them into spans with no code here knowing a tracer:
 * <ul>
 *   <li>{@link #request}: one span per gRPC request (begin, registerBranch, commit, ...), the child of
 *       the caller's span named in the request's {@code traceparent} metadata;</li>
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

    /** A started span for a request of {@code operation} on {@code xid} (null before begin); stop it when answered. */
    public Observation request(String operation, String xid) {
        if (!enabled()) {
            return Observation.NOOP;
        }
        ReceiverContext<Metadata> context = new ReceiverContext<>(
                (carrier, key) -> carrier.get(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER)), Kind.SERVER);
        Metadata headers = HEADERS.get();
        context.setCarrier(headers == null ? new Metadata() : headers);
        return Observation.createNotStarted(TraceKeys.TC_REQUEST, () -> context, registry)
                .contextualName("cohort.tc " + operation)
                .lowCardinalityKeyValue(TraceKeys.OPERATION, operation)
                .highCardinalityKeyValue(TraceKeys.XID, xid == null || xid.isEmpty() ? TraceKeys.NONE : xid)
                .start();
    }

    /** {@code observation} decided {@code xid} (commit, rollback): its phase-2 commands become its children. */
    public void decided(String xid, Observation observation) {
        if (enabled() && observation != Observation.NOOP) {
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
     * {@link Command#traceContext()}. Stop it with the branch's answer.
     */
    public Command command(String xid, long branchId, String resourceId, String action) {
        if (!enabled()) {
            return new Command(Observation.NOOP, Map.of());
        }
        Map<String, String> carrier = new HashMap<>();
        SenderContext<Map<String, String>> context = new SenderContext<>((c, k, v) -> c.put(k, v), Kind.PRODUCER);
        context.setCarrier(carrier);
        context.setRemoteServiceName("cohort-rm");
        String name = action.toLowerCase(Locale.ROOT);
        Observation observation = Observation.createNotStarted(TraceKeys.TC_BRANCH_COMMAND, () -> context, registry)
                .contextualName("cohort.tc send " + name)
                .parentObservation(decisions.get(xid))
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

    /** The span remembered as {@code xid}'s decision, or null. */
    public Observation decision(String xid) {
        return enabled() ? decisions.get(xid) : null;
    }
}
