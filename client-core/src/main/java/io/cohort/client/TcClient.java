package io.cohort.client;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.Xid;
import io.cohort.protocol.v1.BeginRequest;
import io.cohort.protocol.v1.BeginResponse;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.BranchType;
import io.cohort.protocol.v1.CallFrame;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.QueryLocksRequest;
import io.cohort.protocol.v1.QueryLocksResponse;
import io.cohort.protocol.v1.RegisterBranchRequest;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.ReplyFrame;
import io.cohort.protocol.v1.ReportBranchRequest;
import io.cohort.protocol.v1.RollbackOnlyRequest;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc.TransactionCoordinatorBlockingStub;
import io.cohort.protocol.v1.TransactionCreation;
import io.cohort.protocol.v1.TransactionProtocol;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.grpc.ClientInterceptor;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.micrometer.observation.ObservationRegistry;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client side of the TC's gRPC API, shared by the TM and the RM. Thread-safe; one per process.
 *
 * <p>Calls that are safe to repeat (status, commit, rollback, lock queries — the TC makes commit
 * and rollback idempotent) are retried with exponential backoff when no TC answered. Begin and
 * branch registration are not retried after a timeout, since the TC may have acted on them; they
 * wait instead, within their deadline, for a connection to a TC (after a TC restart the channel may
 * still be waiting out its reconnect backoff).
 *
 * <p>A circuit breaker spares the application the call timeout while no TC answers: after repeated
 * failures it opens, and calls fail at once with {@link TcUnavailableException}. It is open only as
 * long as the TC is away: the moment the channel connects to a TC again (a finished TCP and HTTP/2
 * handshake is the probe) the breaker closes, so a TC that comes back is not refused traffic by a
 * timer. Each call it refuses makes the channel try to connect now instead of after gRPC's growing
 * backoff, and after {@link #OPEN_STATE_WAIT} a few calls go through as probes in any case (a TC
 * that accepts connections but does not answer keeps the channel connected).
 *
 * <p>Calls travel as frames on the Calls stream while one is open ({@link TcCallsStreams}; protocol
 * minor 9, {@link TcClientConfig#callsStream()}), else as unary calls; either way with the same
 * deadline and the same failures, so the retries and the breaker above see no difference.
 */
public final class TcClient implements AutoCloseable {

    /** How long the breaker stays open before letting probe calls through, if no reconnection closed it first. */
    static final Duration OPEN_STATE_WAIT = Duration.ofSeconds(1);

    private static final Logger log = LoggerFactory.getLogger(TcClient.class);

    private final TcClientConfig config;
    private final ObservationRegistry observations;
    private final TcCallTracing tracing;
    private final ManagedChannel channel;
    /** Makes the channel reconnect at once for the calls that wait for a connection. */
    private final ReconnectForWaitingCalls reconnects = new ReconnectForWaitingCalls();
    private final TransactionCoordinatorGrpc.TransactionCoordinatorBlockingStub stub;
    /** For the one call made without blocking the caller ({@link #announceAsync}). */
    private final TransactionCoordinatorGrpc.TransactionCoordinatorStub asyncStub;
    /** Null when the Calls stream is turned off ({@link TcClientConfig#callsStream()}). */
    private final TcCallsStreams streams;
    private final Retry retry;
    private final CircuitBreaker circuitBreaker;
    /** Counts the breaker's openings; a channel watcher left from an earlier one stops when it sees a newer. */
    private final AtomicLong openings = new AtomicLong();
    /** The breaker's state as last acted on ({@link #noticeBreakerState}). */
    private final AtomicReference<CircuitBreaker.State> breakerStateSeen =
            new AtomicReference<>(CircuitBreaker.State.CLOSED);
    /** (minor 8) The TC address this process writes into the XIDs it makes; null: use Begin. */
    private volatile String beginlessAddress;
    /** The sequence of TM-made XIDs: starts from the clock, so a restarted process does not repeat one. */
    private final AtomicLong sequence = new AtomicLong(System.currentTimeMillis() * 1000);
    private final SecureRandom random = new SecureRandom();

    public TcClient(TcClientConfig config) {
        this(config, ObservationRegistry.NOOP);
    }

    /**
     * A client whose calls are observed in {@code observations} (Boot's registry: a span per call,
     * the caller's trace carried to the TC in W3C {@code traceparent}); the TM and the RM built on this
     * client observe their transactions and branches in the same registry.
     */
    public TcClient(TcClientConfig config, ObservationRegistry observations) {
        this(config, OPEN_STATE_WAIT, observations);
    }

    /** {@code openStateWait}: tests set it long, to see that only a reconnection closes the breaker. */
    TcClient(TcClientConfig config, Duration openStateWait) {
        this(config, openStateWait, ObservationRegistry.NOOP);
    }

    private TcClient(TcClientConfig config, Duration openStateWait, ObservationRegistry observations) {
        this.config = config;
        this.observations = observations == null ? ObservationRegistry.NOOP : observations;
        this.tracing = new TcCallTracing(this.observations);
        this.channel = TcChannels.openForClient(config.addresses(), config.tls(), reconnects);
        ClientInterceptor auth = MetadataUtils.newAttachHeadersInterceptor(authHeaders(config));
        var plain = TransactionCoordinatorGrpc.newBlockingStub(channel).withInterceptors(auth);
        this.stub = tracing.enabled() ? plain.withInterceptors(tracing.interceptor()) : plain;
        var plainAsync = TransactionCoordinatorGrpc.newStub(channel).withInterceptors(auth);
        this.asyncStub = tracing.enabled() ? plainAsync.withInterceptors(tracing.interceptor()) : plainAsync;
        this.streams = config.callsStream() ? TcCallsStreams.open(channel, auth, config) : null;
        this.retry = Retry.of("cohort-tc", RetryConfig.custom()
                .maxAttempts(config.retryAttempts())
                .intervalFunction(IntervalFunction.ofExponentialBackoff(config.retryBackoff(), 2.0))
                // A call the open breaker refused is retried too: the refusal made the channel reconnect, and
                // the breaker closes as soon as it has.
                // A store that cannot write changed nothing: repeating a call that is safe to repeat is harmless.
                .retryOnException(e -> e instanceof TcUnavailableException || e instanceof TcStoreUnavailableException
                        || e instanceof CallNotPermittedException)
                .build());
        this.circuitBreaker = CircuitBreaker.of("cohort-tc", CircuitBreakerConfig.custom()
                .failureRateThreshold(50)
                .minimumNumberOfCalls(20)
                .slidingWindowSize(50)
                .waitDurationInOpenState(openStateWait)
                .permittedNumberOfCallsInHalfOpenState(3)
                // Only "no TC answered" counts: a TC whose store fails still answers, and its replicas may not fail.
                .recordException(e -> e instanceof TcUnavailableException)
                .build());
    }

    /**
     * Acts on a change of the breaker's state since the last look: a call just made (or our own
     * {@link CircuitBreaker#transitionToClosedState}) is what changes it. Looked at after each call
     * instead of subscribing to the breaker's events: with a subscriber, the breaker builds an event
     * (with a {@code ZonedDateTime}) for every call that succeeds, about 2% of the client's CPU.
     */
    private void noticeBreakerState() {
        CircuitBreaker.State now = circuitBreaker.getState();
        CircuitBreaker.State seen = breakerStateSeen.get();
        if (now == seen || !breakerStateSeen.compareAndSet(seen, now)) {
            return; // unchanged, or another thread is acting on the change
        }
        if (now == CircuitBreaker.State.OPEN) {
            log.warn("TC at {} does not answer: circuit breaker open, calls fail at once until a connection "
                    + "to a TC is back", config.address());
            closeBreakerOnReconnection();
        } else if (now == CircuitBreaker.State.CLOSED) {
            log.info("TC at {} answers again: circuit breaker closed", config.address());
        }
    }

    /**
     * Follows the channel's connectivity while the breaker is open and closes the breaker when the
     * channel becomes READY again. A channel that was already READY when the breaker opened (a TC that
     * accepts connections but does not answer in time) must first lose its connection.
     */
    private void closeBreakerOnReconnection() {
        long opening = openings.incrementAndGet();
        ConnectivityState atOpening = channel.getState(true);
        channel.notifyWhenStateChanged(atOpening, () -> onChannelStateChanged(opening, atOpening));
    }

    private void onChannelStateChanged(long opening, ConnectivityState before) {
        ConnectivityState now = channel.getState(true);
        boolean open = circuitBreaker.getState() == CircuitBreaker.State.OPEN
                || circuitBreaker.getState() == CircuitBreaker.State.HALF_OPEN;
        if (opening != openings.get() || !open || now == ConnectivityState.SHUTDOWN) {
            return; // a newer opening has its own watcher, or the breaker closed otherwise
        }
        if (now == ConnectivityState.READY && before != ConnectivityState.READY) {
            circuitBreaker.transitionToClosedState();
            noticeBreakerState();
        } else {
            channel.notifyWhenStateChanged(now, () -> onChannelStateChanged(opening, now));
        }
    }

    static Metadata authHeaders(TcClientConfig config) {
        Metadata headers = new Metadata();
        if (!config.authToken().isEmpty()) {
            headers.put(Protocol.AUTHORIZATION, "Bearer " + config.authToken());
        }
        return headers;
    }

    public TcClientConfig config() {
        return config;
    }

    /**
     * Whether calls now travel as frames on an open Calls stream (false: unary calls, because the
     * stream is off, not open yet, being reopened, or the TC is older than protocol minor 9).
     */
    public boolean callsStreamOpen() {
        return openCallsStreams() > 0;
    }

    /** The channel to the TC(s), for tests that open a call of their own on it. */
    ManagedChannel channel() {
        return channel;
    }

    /** How many of this client's Calls streams are open now (the TC greeted them). */
    int openCallsStreams() {
        return streams == null ? 0 : streams.openCount();
    }

    /**
     * What this client's Calls streams carried since it was made: calls (frames) and stream messages
     * sent, answers and stream messages received (fewer messages than frames: several per message,
     * minor 10). All zero when it has no streams (off, or an older TC).
     */
    public CallsStreamTraffic callsStreamTraffic() {
        return streams == null ? new CallsStreamTraffic(0, 0, 0, 0) : streams.traffic();
    }

    /** Counts of a client's Calls streams, see {@link #callsStreamTraffic()}. */
    public record CallsStreamTraffic(long framesSent, long messagesSent, long answersReceived, long messagesReceived) {
    }

    /** Where this client, and the TM and RM built on it, report their observations (NOOP: nowhere). */
    public ObservationRegistry observations() {
        return observations;
    }

    /** Begins a global transaction; returns its XID. Not retried: a lost answer leaves an orphan that times out. */
    public String begin(String name, Duration timeout, TransactionProtocol protocol) {
        BeginRequest request = BeginRequest.newBuilder()
                .setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setApplicationId(config.applicationId())
                .setName(name == null ? "" : name)
                .setTimeoutMs(timeout == null ? 0 : timeout.toMillis())
                .setProtocol(protocol == null ? TransactionProtocol.PROTOCOL_UNSPECIFIED : protocol)
                .build();
        BeginResponse response = call("begin", null, false, () -> {
            BeginResponse begun = invoke(CallFrame.newBuilder().setBegin(request), ReplyFrame.ReplyCase.BEGIN,
                    ReplyFrame::getBegin, 0, () -> waitingForConnection(0, tc -> tc.begin(request)));
            tracing.tagXid(begun.getXid());
            return begun;
        });
        learnBeginless(response);
        return response.getXid();
    }

    /**
     * (minor 8) A new global transaction whose XID this process makes, with no call to the TC: the TC
     * creates it at the first call for it ({@link TmMadeXids}). Null while this client does not know
     * that its TC makes transactions that way (before the first {@link #begin} answer says so, or with
     * an older TC): then call {@link #begin}. End it with {@link TmMadeXids#forget} once committed or rolled back.
     */
    public String beginLocally(String name, Duration timeout, TransactionProtocol protocol) {
        String address = beginlessAddress;
        if (address == null) {
            return null;
        }
        String xid = Xid.tmMade(address, sequence.incrementAndGet(), random).toString();
        TmMadeXids.add(xid, new TmMadeXids.Pending(name == null ? "" : name, config.applicationId(),
                timeout == null ? 0 : timeout.toMillis(),
                protocol == null ? TransactionProtocol.PROTOCOL_UNSPECIFIED : protocol, System.nanoTime(), this));
        return xid;
    }

    /**
     * A TC that speaks minor 8 makes TM-made XIDs possible: they carry its address as its own XIDs do.
     * An address too long to leave room for the longer tag keeps this client on Begin.
     */
    private void learnBeginless(BeginResponse response) {
        if (response.getProtocolMinor() >= Protocol.MINOR_BEGINLESS && beginlessAddress == null) {
            String address = Xid.parse(response.getXid()).tcAddress();
            if (address.length() <= Xid.MAX_TM_ADDRESS_LENGTH) {
                beginlessAddress = address;
            }
        }
    }

    /** Creates a TM-made XID's transaction at the TC now (its XID is about to leave the process). */
    void announce(String xid, TmMadeXids.Pending pending) {
        TransactionCreation creation = pending.creation();
        BeginRequest request = announcement(xid, creation);
        created(xid, creation, () -> call("begin", xid, true, () -> invoke(CallFrame.newBuilder().setBegin(request),
                ReplyFrame.ReplyCase.BEGIN, ReplyFrame::getBegin, 0,
                () -> waitingForConnection(0, tc -> tc.begin(request)))));
    }

    private static BeginRequest announcement(String xid, TransactionCreation creation) {
        return BeginRequest.newBuilder()
                .setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setXid(xid)
                .setApplicationId(creation.getApplicationId())
                .setName(creation.getName())
                .setTimeoutMs(creation.getTimeoutMs())
                .setProtocol(creation.getProtocol())
                .setElapsedMs(creation.getElapsedMs())
                .build();
    }

    /**
     * As {@link #announce}, without blocking the calling thread, for a reactive caller whose thread may
     * be an event loop (the WebClient filter): the same Begin naming the XID, on the Calls stream or as a
     * unary call waiting for a connection, with the same deadline, breaker and errors, but answered
     * through the returned future. It completes (on a gRPC thread) once the TC knows the transaction, or
     * with the {@link TcException} {@link #announce} would throw. Not retried, as the blocking form
     * ({@code retry-attempts} applies to neither announce); not observed as a span of its own.
     */
    CompletableFuture<Void> announceAsync(String xid, TmMadeXids.Pending pending) {
        BeginRequest request = announcement(xid, pending.creation());
        if (!circuitBreaker.tryAcquirePermission()) {
            channel.resetConnectBackoff(); // as for a blocking call the breaker refuses: let the channel reconnect now
            noticeBreakerState();
            return CompletableFuture.failedFuture(breakerOpen("begin", xid, null));
        }
        long start = System.nanoTime();
        CompletableFuture<Void> done = new CompletableFuture<>();
        CompletableFuture<BeginResponse> sent;
        try {
            sent = beginAsync(request);
        } catch (RuntimeException e) { // not sent (a closing client): the breaker's permission is given back
            sent = CompletableFuture.failedFuture(e);
        }
        sent.whenComplete((answer, failure) -> {
            long nanos = System.nanoTime() - start;
            Throwable cause = failure instanceof CompletionException ? failure.getCause() : failure;
            if (cause == null) {
                circuitBreaker.onSuccess(nanos, TimeUnit.NANOSECONDS);
                noticeBreakerState();
                creationAnswered(xid, null);
                done.complete(null);
                return;
            }
            TcException error = cause instanceof StatusRuntimeException grpc
                    ? translated("begin", xid, grpc) : new TcException("begin of " + xid + " failed: " + cause,
                    ErrorCode.ERROR_UNSPECIFIED, false, cause);
            circuitBreaker.onError(nanos, TimeUnit.NANOSECONDS, error);
            noticeBreakerState();
            creationAnswered(xid, error);
            done.completeExceptionally(error);
        });
        return done;
    }

    /** One Begin without blocking: a frame on an open Calls stream, else the unary call (waiting for a connection). */
    private CompletableFuture<BeginResponse> beginAsync(BeginRequest request) {
        CallFrame.Builder frame = CallFrame.newBuilder().setBegin(request);
        if (tracing.enabled()) {
            frame.putAllTraceHeaders(tracing.currentHeaders());
        }
        TcCallsStreams.Pending onStream = streams == null ? null : streams.send(frame);
        if (onStream != null) {
            return onStream.answer(config.callTimeout().toMillis()).thenApply(reply -> {
                if (reply.getReplyCase() != ReplyFrame.ReplyCase.BEGIN) {
                    throw Status.INTERNAL.withDescription("the TC answered a BEGIN call with " + reply.getReplyCase()
                            + " on the Calls stream").asRuntimeException();
                }
                return reply.getBegin();
            });
        }
        CompletableFuture<BeginResponse> answer = new CompletableFuture<>();
        reconnects.started();
        answer.whenComplete((response, failure) -> reconnects.ended());
        try {
            asyncStub.withDeadlineAfter(config.callTimeout().toMillis(), TimeUnit.MILLISECONDS).withWaitForReady()
                    .begin(request, new StreamObserver<>() {
                        @Override
                        public void onNext(BeginResponse response) {
                            answer.complete(response);
                        }

                        @Override
                        public void onError(Throwable t) {
                            answer.completeExceptionally(t);
                        }

                        @Override
                        public void onCompleted() {
                            if (!answer.isDone()) {
                                answer.completeExceptionally(Status.INTERNAL.withDescription(
                                        "the TC answered begin with no response").asRuntimeException());
                            }
                        }
                    });
        } catch (RuntimeException notSent) { // a closing client
            answer.completeExceptionally(notSent);
        }
        return answer;
    }

    /**
     * Runs a call for {@code xid}; with its {@code creation} (null: none to carry), once the TC answered
     * it knows the transaction. An answer that it does not know the XID means a TC that cannot create
     * one (an older replica): this client goes back to Begin for the transactions after this one.
     */
    private <T> T created(String xid, TransactionCreation creation, Supplier<T> body) {
        if (creation == null) {
            return body.get();
        }
        try {
            T answer = body.get();
            creationAnswered(xid, null);
            return answer;
        } catch (TcException e) {
            creationAnswered(xid, e);
            throw e;
        }
    }

    /**
     * After a call that carried {@code xid}'s creation: answered ({@code refused} null), the TC knows the
     * transaction; refused as an unknown XID, the TC cannot create one (an older replica), so this
     * client goes back to Begin.
     */
    private void creationAnswered(String xid, TcException refused) {
        if (refused == null) {
            TmMadeXids.announced(xid);
        } else if (refused.errorCode() == ErrorCode.UNKNOWN_XID) {
            beginlessAddress = null;
        }
    }

    /** Asks the TC to commit; returns the status it reached (COMMITTED, ASYNC_COMMITTING, ... or a rollback status). */
    public GlobalStatusResponse commit(String xid) {
        TransactionCreation creation = TmMadeXids.creationFor(xid);
        GlobalRequest request = globalRequest(xid, creation);
        return created(xid, creation, () -> call("commit", xid, true, () -> invoke(
                CallFrame.newBuilder().setCommit(request), ReplyFrame.ReplyCase.GLOBAL_STATUS,
                ReplyFrame::getGlobalStatus, 0, () -> stub().commit(request))));
    }

    public GlobalStatusResponse rollback(String xid) {
        TransactionCreation creation = TmMadeXids.creationFor(xid);
        GlobalRequest request = globalRequest(xid, creation);
        return created(xid, creation, () -> call("rollback", xid, true, () -> invoke(
                CallFrame.newBuilder().setRollback(request), ReplyFrame.ReplyCase.GLOBAL_STATUS,
                ReplyFrame::getGlobalStatus, 0, () -> stub().rollback(request))));
    }

    public GlobalStatusResponse status(String xid) {
        GlobalRequest request = globalRequest(xid);
        return call("status", xid, true, () -> invoke(CallFrame.newBuilder().setGetStatus(request),
                ReplyFrame.ReplyCase.GLOBAL_STATUS, ReplyFrame::getGlobalStatus, 0, () -> stub().getStatus(request)));
    }

    /**
     * The status as any reachable TC replica sees it, asked afresh: the call makes the channel connect
     * now and waits (up to the call timeout) for a connection to any replica instead of failing fast on
     * an earlier failure; the circuit breaker is bypassed. For a caller about to act on "no TC answers"
     * (the RM's three-phase termination), so that it only does when it is true now.
     */
    public GlobalStatusResponse statusFromAnyReplica(String xid) {
        GlobalRequest request = globalRequest(xid);
        return Retry.decorateSupplier(retry, () -> translate("status", xid,
                () -> waitingForConnection(0, tc -> tc.getStatus(request)))).get();
    }

    /** Registers a branch; the response holds the branch id or the lock conflict, answered at once. */
    public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                 byte[] applicationData, String clientId) {
        return registerBranch(xid, resourceId, lockKeys, applicationData, clientId, Duration.ZERO);
    }

    /**
     * Registers a branch, letting the TC hold the call up to {@code lockWait} while another global
     * transaction holds the rows (the TC answers as soon as they are released and taken, or with the
     * conflict when the wait is over; an older TC answers at once). The call's deadline is the call
     * timeout plus the wait.
     */
    public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                 byte[] applicationData, String clientId, Duration lockWait) {
        return registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWait, 0);
    }

    /**
     * As the other, with the branch id the RM chose ({@code branchId} &gt; 0; 0: the TC assigns one).
     * Use the id the answer holds: a TC older than minor 7 ignores the chosen one and assigns its own.
     */
    public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                 byte[] applicationData, String clientId, Duration lockWait,
                                                 long branchId) {
        long waitMs = lockWait == null || lockWait.isNegative() ? 0 : lockWait.toMillis();
        RegisterBranchRequest.Builder request = RegisterBranchRequest.newBuilder()
                .setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setXid(xid)
                .setResourceId(resourceId)
                .setBranchType(BranchType.AT)
                .addAllLockKeys(lockKeys)
                .setApplicationData(applicationData == null ? com.google.protobuf.ByteString.EMPTY
                        : com.google.protobuf.ByteString.copyFrom(applicationData))
                .setClientId(clientId == null ? "" : clientId)
                .setLockWaitMs(waitMs)
                .setBranchId(branchId);
        TransactionCreation creation = TmMadeXids.creationFor(xid);
        if (creation != null) {
            request.setCreation(creation);
        }
        RegisterBranchRequest built = request.build();
        return created(xid, creation, () -> call("registerBranch", xid, false, () -> invoke(
                CallFrame.newBuilder().setRegisterBranch(built), ReplyFrame.ReplyCase.REGISTER_BRANCH,
                ReplyFrame::getRegisterBranch, waitMs,
                () -> waitingForConnection(waitMs, tc -> tc.registerBranch(built)))));
    }

    /**
     * Tells the TC how a branch ended outside a command: a phase-1 failure, or ({@code decidedByRm})
     * a branch the RM finished on its own under 3PC while no TC answered.
     */
    public GlobalStatus reportBranch(String xid, long branchId, BranchStatusCode status, String reason,
                                     boolean decidedByRm) {
        ReportBranchRequest request = ReportBranchRequest.newBuilder()
                .setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setXid(xid)
                .setBranchId(branchId)
                .setStatus(status)
                .setReason(reason == null ? "" : reason)
                .setDecidedByRm(decidedByRm)
                .build();
        return GlobalStatus.fromWire(call("reportBranch", xid, true, () -> invoke(CallFrame.newBuilder()
                        .setReportBranch(request), ReplyFrame.ReplyCase.REPORT_BRANCH, ReplyFrame::getReportBranch, 0,
                        () -> stub().reportBranch(request)))
                .getGlobalStatus());
    }

    /**
     * Tells the TC that work of {@code resourceId} in {@code xid} failed in phase 1 without a branch
     * to report it on, so the global transaction must not commit; the TC rolls it back if it is
     * still in BEGIN. Returns the status it is in afterwards. Idempotent, so retried.
     */
    public GlobalStatusResponse markRollbackOnly(String xid, String resourceId, String reason) {
        RollbackOnlyRequest.Builder request = RollbackOnlyRequest.newBuilder()
                .setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setXid(xid)
                .setResourceId(resourceId)
                .setReason(reason == null ? "" : reason);
        TransactionCreation creation = TmMadeXids.creationFor(xid);
        if (creation != null) {
            request.setCreation(creation);
        }
        RollbackOnlyRequest built = request.build();
        return created(xid, creation, () -> call("markRollbackOnly", xid, true, () -> invoke(
                CallFrame.newBuilder().setMarkRollbackOnly(built), ReplyFrame.ReplyCase.GLOBAL_STATUS,
                ReplyFrame::getGlobalStatus, 0, () -> stub().markRollbackOnly(built))));
    }

    /** Whether the rows are free of locks held by XIDs other than {@code ownXid} (may be null). */
    public QueryLocksResponse queryLocks(String resourceId, List<String> lockKeys, String ownXid) {
        QueryLocksRequest request = QueryLocksRequest.newBuilder()
                .setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setResourceId(resourceId)
                .addAllLockKeys(lockKeys)
                .setXid(ownXid == null ? "" : ownXid)
                .build();
        return call("queryLocks", ownXid, true, () -> invoke(CallFrame.newBuilder().setQueryLocks(request),
                ReplyFrame.ReplyCase.QUERY_LOCKS, ReplyFrame::getQueryLocks, 0, () -> stub().queryLocks(request)));
    }

    /**
     * One call: as a frame on an open Calls stream, with the call timeout (plus {@code extraMs} the
     * TC may hold it) as its deadline and the caller's trace in the frame, failing with the status
     * the unary call would have; or, while no stream is open (or it is off, or the TC is older), as
     * the unary call {@code unary}.
     */
    private <R> R invoke(CallFrame.Builder frame, ReplyFrame.ReplyCase expected, Function<ReplyFrame, R> answer,
                         long extraMs, Supplier<R> unary) {
        if (streams == null) {
            return unary.get();
        }
        if (tracing.enabled()) {
            frame.putAllTraceHeaders(tracing.currentHeaders());
        }
        TcCallsStreams.Pending pending = streams.send(frame);
        if (pending == null) {
            return unary.get();
        }
        ReplyFrame reply = pending.await(config.callTimeout().toMillis() + extraMs);
        if (reply.getReplyCase() != expected) {
            throw Status.INTERNAL.withDescription("the TC answered a " + expected + " call with " + reply.getReplyCase()
                    + " on the Calls stream").asRuntimeException();
        }
        return answer.apply(reply);
    }

    private GlobalRequest globalRequest(String xid) {
        return globalRequest(xid, null);
    }

    private GlobalRequest globalRequest(String xid, TransactionCreation creation) {
        GlobalRequest.Builder request = GlobalRequest.newBuilder().setProtocolMinor(Protocol.PROTOCOL_MINOR).setXid(xid);
        return creation == null ? request.build() : request.setCreation(creation).build();
    }

    private TransactionCoordinatorGrpc.TransactionCoordinatorBlockingStub stub() {
        return stub.withDeadlineAfter(config.callTimeout().toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * For the calls that must reach a TC that is back (begin and registration, never retried; the
     * status from any replica): a channel still waiting out its reconnect backoff after a TC restart
     * would fail them at once, so {@code call} waits for a connection within its deadline (the call
     * timeout plus {@code extraMs} the TC may hold it), the channel made to connect at once
     * ({@link ReconnectForWaitingCalls}).
     */
    private <R> R waitingForConnection(long extraMs, Function<TransactionCoordinatorBlockingStub, R> call) {
        var waiting = stub.withDeadlineAfter(config.callTimeout().toMillis() + extraMs, TimeUnit.MILLISECONDS)
                .withWaitForReady();
        return reconnects.waiting(() -> call.apply(waiting));
    }

    private <T> T call(String operation, String xid, boolean idempotent, Supplier<T> body) {
        return tracing.enabled() ? tracing.observe(operation, xid, () -> untracedCall(operation, xid, idempotent, body))
                : untracedCall(operation, xid, idempotent, body);
    }

    private <T> T untracedCall(String operation, String xid, boolean idempotent, Supplier<T> body) {
        Supplier<T> breaker = CircuitBreaker.decorateSupplier(circuitBreaker, () -> translate(operation, xid, body));
        Supplier<T> guarded = () -> {
            try {
                return breaker.get();
            } catch (CallNotPermittedException refused) {
                // Let the channel try to connect now rather than after its backoff, so the breaker can close.
                channel.resetConnectBackoff();
                throw refused;
            } finally {
                noticeBreakerState();
            }
        };
        Supplier<T> withRetry = idempotent ? Retry.decorateSupplier(retry, guarded) : guarded;
        try {
            return withRetry.get();
        } catch (CallNotPermittedException e) {
            throw breakerOpen(operation, xid, e);
        }
    }

    private TcUnavailableException breakerOpen(String operation, String xid, CallNotPermittedException refused) {
        return new TcUnavailableException("TC at " + config.address() + " is unavailable (circuit breaker open after "
                + "repeated failures; it closes as soon as a connection to a TC is back); " + operation
                + (xid == null ? "" : " of " + xid) + " was not sent", refused);
    }

    private <T> T translate(String operation, String xid, Supplier<T> body) {
        try {
            return body.get();
        } catch (StatusRuntimeException e) {
            throw translated(operation, xid, e);
        }
    }

    private TcException translated(String operation, String xid, StatusRuntimeException e) {
        if (e.getStatus().getCode() == Status.Code.UNAVAILABLE) {
            // Let the next attempt connect now: after an outage the channel's own backoff grows to
            // minutes, and every call in between would fail at once although the TC is back.
            channel.resetConnectBackoff();
        }
        return toException(operation, xid, config.address(), e);
    }

    /** Turns a gRPC failure into a {@link TcException} that says what happened and what to do. */
    static TcException toException(String operation, String xid, String address, StatusRuntimeException e) {
        Status.Code code = e.getStatus().getCode();
        String what = operation + (xid == null ? "" : " of " + xid);
        ErrorCode errorCode = ErrorCode.ERROR_UNSPECIFIED;
        Metadata trailers = e.getTrailers();
        if (trailers != null && trailers.get(Protocol.ERROR_CODE_TRAILER) != null) {
            try {
                errorCode = ErrorCode.valueOf(trailers.get(Protocol.ERROR_CODE_TRAILER));
            } catch (IllegalArgumentException unknown) {
                // A newer TC's code: keep UNSPECIFIED, the description still explains.
            }
        }
        if (errorCode == ErrorCode.STORE_UNAVAILABLE) {
            // The TC's own answer (gRPC UNAVAILABLE, but with the trailer): it is there, its store is not.
            return new TcStoreUnavailableException("The TC at " + address + " refused " + what + " because its store"
                    + " cannot write: nothing was changed; try again once the TC's store is back (" + e.getStatus()
                    .getDescription() + ") [" + code + ", STORE_UNAVAILABLE]", e);
        }
        if (code == Status.Code.UNAVAILABLE || code == Status.Code.DEADLINE_EXCEEDED) {
            return new TcUnavailableException("No answer from the TC at " + address + " for " + what + " ("
                    + code + ": " + e.getStatus().getDescription() + "); check the TC is running and reachable", e);
        }
        boolean retriable = code == Status.Code.RESOURCE_EXHAUSTED;
        return new TcException("TC refused " + what + ": " + e.getStatus().getDescription()
                + " [" + code + (errorCode == ErrorCode.ERROR_UNSPECIFIED ? "" : ", " + errorCode) + "]",
                errorCode, retriable, e);
    }

    @Override
    public void close() {
        if (streams != null) {
            streams.close();
        }
        channel.shutdown();
        try {
            if (!channel.awaitTermination(2, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            channel.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
