package io.cohort.tc.rpc;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.TraceKeys;
import io.cohort.protocol.v1.BeginRequest;
import io.cohort.protocol.v1.BeginResponse;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.CallFrame;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.LockConflict;
import io.cohort.protocol.v1.QueryLocksRequest;
import io.cohort.protocol.v1.QueryLocksResponse;
import io.cohort.protocol.v1.RegisterBranchRequest;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.ReplyFrame;
import io.cohort.protocol.v1.ReportBranchRequest;
import io.cohort.protocol.v1.ReportBranchResponse;
import io.cohort.protocol.v1.RmHello;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.RollbackOnlyRequest;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TcWelcome;
import io.cohort.protocol.v1.TransactionCreation;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.tc.coordinator.Coordinator;
import io.cohort.tc.coordinator.CoordinatorException;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.StoreUnavailableException;
import io.cohort.tc.support.LogText;
import io.cohort.tc.support.TcObservations;
import io.cohort.tc.support.WarningThrottle;
import io.grpc.Metadata;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.micrometer.observation.Observation;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC face of the {@link Coordinator}: checks the shape of each request, calls the
 * coordinator, and turns refusals into gRPC statuses with a reason and an {@code cohort-error-code}
 * trailer. Answers are sent from the store's completion, never by blocking an RPC thread.
 */
public final class CoordinatorGrpcService extends TransactionCoordinatorGrpc.TransactionCoordinatorImplBase {

    private static final Logger log = LoggerFactory.getLogger(CoordinatorGrpcService.class);
    static final int MAX_NAME_LENGTH = 256;
    static final int MAX_ID_LENGTH = 512;
    static final int MAX_APPLICATION_DATA = 64 * 1024;
    static final int MAX_RESOURCES_PER_RM = 256;

    private final Coordinator coordinator;
    private final BranchDispatcher dispatcher;
    private final WarningThrottle refusedStreams;
    private final TcObservations observations;
    /** Where frames of a Calls stream run (null: on the network thread), set by {@link GrpcServer}. */
    private volatile Executor frameExecutor;
    private volatile int maxCallsPerStream = Integer.MAX_VALUE;
    private volatile int maxFrameBytes;

    public CoordinatorGrpcService(Coordinator coordinator, BranchDispatcher dispatcher, Clock clock) {
        this(coordinator, dispatcher, clock, TcObservations.noop());
    }

    public CoordinatorGrpcService(Coordinator coordinator, BranchDispatcher dispatcher, Clock clock,
                                  TcObservations observations) {
        this.coordinator = coordinator;
        this.dispatcher = dispatcher;
        this.observations = observations;
        this.refusedStreams = new WarningThrottle(log, "refused RM stream", 20, Duration.ofSeconds(10), clock);
    }

    @Override
    public void begin(BeginRequest request, StreamObserver<BeginResponse> response) {
        answer("begin", null, false, response, () -> {
            checkLength("name", request.getName(), MAX_NAME_LENGTH);
            checkLength("application_id", request.getApplicationId(), MAX_ID_LENGTH);
            String applicationId = Caller.current().applicationId(request.getApplicationId());
            if (!request.getXid().isEmpty()) { // (minor 8) an XID the TM made
                return coordinator.begin(request.getXid(), new Coordinator.Creation(request.getName(), applicationId,
                        request.getTimeoutMs(), request.getProtocol(), request.getElapsedMs()));
            }
            return coordinator.begin(request.getName(), applicationId, request.getTimeoutMs(), request.getProtocol());
        }, tx -> BeginResponse.newBuilder().setXid(tx.xid()).setTimeoutMs(tx.timeoutMs())
                .setProtocol(tx.protocol()).setProtocolMinor(Protocol.PROTOCOL_MINOR).build());
    }

    @Override
    public void commit(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        answer("commit", request.getXid(), true, response,
                () -> coordinator.commit(request.getXid(), creation(request.hasCreation(), request.getCreation())),
                this::statusOf);
    }

    @Override
    public void rollback(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        answer("rollback", request.getXid(), true, response,
                () -> coordinator.rollback(request.getXid(), creation(request.hasCreation(), request.getCreation())),
                this::statusOf);
    }

    /** (minor 8) What creates a TM-made XID's transaction, checked like a Begin; null when absent. */
    private static Coordinator.Creation creation(boolean present, TransactionCreation c) {
        if (!present) {
            return null;
        }
        checkLength("creation.name", c.getName(), MAX_NAME_LENGTH);
        checkLength("creation.application_id", c.getApplicationId(), MAX_ID_LENGTH);
        return new Coordinator.Creation(c.getName(), Caller.current().applicationId(c.getApplicationId()),
                c.getTimeoutMs(), c.getProtocol(), c.getElapsedMs());
    }

    @Override
    public void getStatus(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        answer("status", request.getXid(), false, response,
                () -> CompletableFuture.completedFuture(coordinator.status(request.getXid())), this::statusOf);
    }

    @Override
    public void registerBranch(RegisterBranchRequest request, StreamObserver<RegisterBranchResponse> response) {
        answer("registerBranch", request.getXid(), false, response, () -> {
            checkLength("resource_id", request.getResourceId(), MAX_ID_LENGTH);
            checkLength("client_id", request.getClientId(), MAX_ID_LENGTH);
            checkMayServe(request.getResourceId(), "register a branch of " + request.getXid() + " for");
            if (request.getApplicationData().size() > MAX_APPLICATION_DATA) {
                throw new CoordinatorException(ErrorCode.REQUEST_TOO_LARGE, "application_data of a branch of "
                        + request.getXid() + " is " + request.getApplicationData().size() + " bytes; at most "
                        + MAX_APPLICATION_DATA + " are allowed");
            }
            if (request.getLockWaitMs() < 0) {
                throw CoordinatorException.invalid("lock_wait_ms of a branch of " + request.getXid()
                        + " is negative (" + request.getLockWaitMs() + "): use 0 to answer a conflict at once");
            }
            // An RM older than minor 7 never sets branch_id: the TC assigns the id, as before.
            long chosenBranchId = request.getProtocolMinor() >= Protocol.MINOR_RM_BRANCH_IDS ? request.getBranchId() : 0;
            CompletableFuture<Coordinator.Registration> registration = coordinator.registerBranch(request.getXid(),
                    request.getResourceId(), request.getLockKeysList(), request.getApplicationData().toByteArray(),
                    request.getClientId(), request.getLockWaitMs(), chosenBranchId,
                    creation(request.hasCreation(), request.getCreation()));
            if (request.getLockWaitMs() > 0 && response instanceof ServerCallStreamObserver<?> call) {
                call.setOnCancelHandler(() -> registration.cancel(false)); // the RM gave up or went away: stop waiting
            }
            return registration;
        }, registration -> {
            if (registration.result() instanceof RegisterResult.Registered r) {
                return RegisterBranchResponse.newBuilder().setBranchId(r.branchId())
                        .setProtocol(registration.protocol()).build();
            }
            RegisterResult.Conflict c = (RegisterResult.Conflict) registration.result();
            return RegisterBranchResponse.newBuilder().setConflict(conflictOf(c.heldBy()).toBuilder()
                    .setWaitedMs(registration.waitedMs())).build();
        });
    }

    @Override
    public void reportBranch(ReportBranchRequest request, StreamObserver<ReportBranchResponse> response) {
        answer("reportBranch", request.getXid(), true, response, () -> {
            BranchStatus status;
            try {
                status = BranchStatus.fromWire(request.getStatus());
            } catch (IllegalArgumentException e) {
                throw CoordinatorException.invalid("Branch report for " + request.getXid() + " has no valid status ("
                        + request.getStatusValue() + ")");
            }
            checkLength("reason", request.getReason(), 4096);
            return coordinator.reportBranch(request.getXid(), request.getBranchId(), status, request.getReason(),
                    request.getDecidedByRm());
        }, status -> ReportBranchResponse.newBuilder().setGlobalStatus(status.toWire()).build());
    }

    @Override
    public void markRollbackOnly(RollbackOnlyRequest request, StreamObserver<GlobalStatusResponse> response) {
        answer("markRollbackOnly", request.getXid(), true, response, () -> {
            checkLength("resource_id", request.getResourceId(), MAX_ID_LENGTH);
            checkLength("reason", request.getReason(), 4096);
            if (request.getResourceId().isEmpty()) {
                throw CoordinatorException.invalid("Rollback-only report for " + request.getXid() + " has no resource id");
            }
            checkMayServe(request.getResourceId(), "mark " + request.getXid() + " rollback-only for");
            return coordinator.markRollbackOnly(request.getXid(), request.getResourceId(), request.getReason(),
                    creation(request.hasCreation(), request.getCreation()));
        }, this::statusOf);
    }

    @Override
    public void queryLocks(QueryLocksRequest request, StreamObserver<QueryLocksResponse> response) {
        answer("queryLocks", request.getXid(), false, response, () -> {
            checkLength("resource_id", request.getResourceId(), MAX_ID_LENGTH);
            if (request.getResourceId().isEmpty()) {
                throw CoordinatorException.invalid("Lock query has no resource id");
            }
            // A conflict names the holder's XID: only a service that may serve the resource learns it.
            checkMayServe(request.getResourceId(), "query the locks of");
            return CompletableFuture.completedFuture(coordinator.queryLocks(request.getResourceId(),
                    request.getLockKeysList(), request.getXid()));
        }, conflict -> conflict.map(c -> QueryLocksResponse.newBuilder().setLockable(false).setConflict(conflictOf(c)).build())
                .orElseGet(() -> QueryLocksResponse.newBuilder().setLockable(true).build()));
    }

    /**
     * Frames are read on the network threads; those that may read run on {@code executor} (null when
     * the store never blocks a call), so that one stream's calls do not wait for each other, and
     * those that {@link #waitsOnNoRead} on the thread that read them; at most
     * {@code maxInFlight} at once, as on one connection; {@code maxFrameBytes}, the server's largest
     * message, is told to the client so that it sends a larger request unary.
     */
    void runFramesOn(Executor executor, int maxInFlight, int maxFrameBytes) {
        this.frameExecutor = executor;
        this.maxCallsPerStream = maxInFlight;
        this.maxFrameBytes = maxFrameBytes;
    }

    /**
     * Whether {@code frame}'s call waits on no database read, so that it may run on the network
     * thread that read its frame: a call on a transaction the store holds in memory, or one that
     * creates its transaction under the caps (a begin, or a registration carrying the creation: their
     * writes are futures, and the caps' count is read only before a refusal, see
     * {@link Coordinator#passesCapsWithoutReading}). A call on another transaction (a begin naming
     * an XID the TM made included: the TC reads whether it knows it), or a lock query, may read.
     */
    boolean waitsOnNoRead(CallFrame frame) {
        return switch (frame.getRequestCase()) {
            case BEGIN -> frame.getBegin().getXid().isEmpty()
                    ? coordinator.passesCapsWithoutReading(Caller.current().applicationId(
                            frame.getBegin().getApplicationId()))
                    : coordinator.holdsInMemory(frame.getBegin().getXid());
            case COMMIT -> coordinator.holdsInMemory(frame.getCommit().getXid());
            case ROLLBACK -> coordinator.holdsInMemory(frame.getRollback().getXid());
            case GET_STATUS -> coordinator.holdsInMemory(frame.getGetStatus().getXid());
            case REGISTER_BRANCH -> coordinator.holdsInMemory(frame.getRegisterBranch().getXid())
                    || frame.getRegisterBranch().hasCreation() && coordinator.passesCapsWithoutReading(
                            Caller.current().applicationId(frame.getRegisterBranch().getCreation().getApplicationId()));
            case REPORT_BRANCH -> coordinator.holdsInMemory(frame.getReportBranch().getXid());
            case MARK_ROLLBACK_ONLY -> coordinator.holdsInMemory(frame.getMarkRollbackOnly().getXid());
            default -> false;
        };
    }

    /** Every unary call as a frame on one stream (minor 9), served by the methods above: see {@link CallsStream}. */
    @Override
    public StreamObserver<CallFrame> calls(StreamObserver<ReplyFrame> outbound) {
        return new CallsStream(this, (ServerCallStreamObserver<ReplyFrame>) outbound, frameExecutor, observations,
                maxCallsPerStream, maxFrameBytes);
    }

    @Override
    public StreamObserver<RmMessage> connect(StreamObserver<TcMessage> outbound) {
        var rmStream = new StreamObserver<RmMessage>() {
            private volatile BranchDispatcher.RmSession session;

            @Override
            public void onNext(RmMessage message) {
                switch (message.getBodyCase()) {
                    case HELLO -> {
                        if (session != null) {
                            fail("the RM sent a second hello on one stream");
                            return;
                        }
                        var hello = message.getHello();
                        String invalid = checkHello(hello);
                        if (invalid != null) {
                            fail(invalid);
                            return;
                        }
                        Caller caller = Caller.current();
                        String denied = hello.getResourceIdsList().stream().filter(r -> !caller.mayServe(r)).findFirst()
                                .orElse(null);
                        if (denied != null) {
                            // Refused before the RM is known to the dispatcher: no command for that resource reaches it.
                            refusedStreams.warn("Refusing the RM stream of {} ({}): it may not serve resource {}",
                                    LogText.safe(hello.getClientId()), caller.name(), LogText.safe(denied));
                            outbound.onError(Status.PERMISSION_DENIED.withDescription(notPermitted(caller, "serve", denied))
                                    .asRuntimeException(trailer(ErrorCode.PERMISSION_DENIED)));
                            return;
                        }
                        session = dispatcher.connected(hello.getClientId(), hello.getApplicationId(),
                                hello.getResourceIdsList(), outbound);
                        session.send(TcMessage.newBuilder().setWelcome(TcWelcome.newBuilder()
                                .setProtocolMinor(Protocol.PROTOCOL_MINOR).setTcAddress(coordinator.tcAddress())).build());
                    }
                    case RESULTS -> {
                        if (session == null) {
                            fail("the first message on the stream must be hello");
                            return;
                        }
                        for (BranchResult r : message.getResults().getResultsList()) {
                            dispatcher.resultArrived(session, r);
                        }
                    }
                    default -> fail("unknown message type " + message.getBodyCase());
                }
            }

            private void fail(String why) {
                refusedStreams.warn("Closing an RM stream{}: {}", session == null ? "" : " of RM "
                        + LogText.safe(session.clientId()), why);
                Status status = Status.INVALID_ARGUMENT.withDescription(why);
                if (session != null) {
                    dispatcher.disconnected(session);
                    session.closeStream(status, trailer(ErrorCode.INVALID_REQUEST));
                } else {
                    outbound.onError(status.asRuntimeException(trailer(ErrorCode.INVALID_REQUEST)));
                }
            }

            @Override
            public void onError(Throwable t) {
                if (session != null) {
                    dispatcher.disconnected(session);
                }
            }

            @Override
            public void onCompleted() {
                if (session != null) {
                    dispatcher.disconnected(session);
                    session.closeStream(null, null);
                } else {
                    outbound.onCompleted();
                }
            }
        };
        // Commands wait in the session while the RM does not read; this sends them once it does.
        if (outbound instanceof ServerCallStreamObserver<TcMessage> call) {
            call.setOnReadyHandler(() -> {
                BranchDispatcher.RmSession s = rmStream.session;
                if (s != null) {
                    s.onReady();
                }
            });
        }
        return rmStream;
    }

    /** What is wrong with an RM's hello (the message says which field and the limit), or null when it is fine. */
    static String checkHello(RmHello hello) {
        if (hello.getClientId().isEmpty() || hello.getResourceIdsCount() == 0) {
            return "hello needs a client_id and at least one resource id";
        }
        if (hello.getResourceIdsCount() > MAX_RESOURCES_PER_RM) {
            return "hello announces " + hello.getResourceIdsCount() + " resource ids; at most " + MAX_RESOURCES_PER_RM
                    + " are allowed per RM stream";
        }
        String invalid = invalidId("client_id", hello.getClientId());
        if (invalid == null) {
            invalid = invalidId("application_id", hello.getApplicationId());
        }
        for (int i = 0; invalid == null && i < hello.getResourceIdsCount(); i++) {
            invalid = invalidId("resource_ids[" + i + "]", hello.getResourceIds(i));
            if (invalid == null && hello.getResourceIds(i).isEmpty()) {
                invalid = "resource_ids[" + i + "] is empty";
            }
        }
        return invalid;
    }

    /** Refuses a call naming a resource that its caller may not serve (per-service identities). */
    private static void checkMayServe(String resourceId, String action) {
        Caller caller = Caller.current();
        if (!caller.mayServe(resourceId)) {
            throw new CoordinatorException(ErrorCode.PERMISSION_DENIED, notPermitted(caller, action, resourceId));
        }
    }

    private static String notPermitted(Caller caller, String action, String resourceId) {
        String shown = resourceId.length() > 200 ? resourceId.substring(0, 200) + "..." : resourceId;
        return "Service " + caller.name() + " may not " + action + " resource " + shown
                + "; the TC lists the resources of each service in cohort.tc.auth.clients.<name>.resources";
    }

    private static String invalidId(String field, String value) {
        if (value.length() > MAX_ID_LENGTH) {
            return "Field " + field + " is " + value.length() + " characters long; at most " + MAX_ID_LENGTH + " are allowed";
        }
        for (int i = 0; i < value.length(); i++) {
            if (Character.isISOControl(value.charAt(i))) {
                return "Field " + field + " contains a control character at index " + i + "; ids must be printable";
            }
        }
        return null;
    }

    private GlobalStatusResponse statusOf(GlobalTransaction tx) {
        return GlobalStatusResponse.newBuilder().setXid(tx.xid()).setStatus(tx.status().toWire())
                .setHeuristic(tx.heuristic()).setHeuristicEvidence(tx.heuristicEvidence()).setReason(tx.reason()).build();
    }

    private LockConflict conflictOf(RowLock lock) {
        LockConflict.Builder conflict = LockConflict.newBuilder().setLockKey(lock.row().lockKey())
                .setHolderXid(lock.xid()).setHeldSinceEpochMs(lock.acquiredAtMs());
        coordinator.findStatus(lock.xid()).ifPresent(s -> conflict.setHolderStatus(s.toWire()));
        return conflict.build();
    }

    private static void checkLength(String field, String value, int max) {
        if (value.length() > max) {
            throw CoordinatorException.invalid("Field " + field + " is " + value.length() + " characters long; at most "
                    + max + " are allowed");
        }
    }

    /**
     * Runs {@code call}, sends its mapped result, or the failure as a gRPC status; observed as one
     * span of {@code operation}, with the XID in the log's MDC while it runs and when it completes.
     * {@code decides}: the call may start phase 2, whose command spans become this one's children.
     */
    private <T, R> void answer(String operation, String xid, boolean decides, StreamObserver<R> response,
                               Supplier<CompletableFuture<T>> call, Function<T, R> map) {
        Observation observation = observations.request(operation, xid);
        if (decides && !xid.isEmpty()) {
            observations.decided(xid, observation);
        }
        observations.inScope(xid, observation, () -> answer(xid, observation, response, call, map));
    }

    private <T, R> void answer(String xid, Observation observation, StreamObserver<R> response,
                               Supplier<CompletableFuture<T>> call, Function<T, R> map) {
        CompletableFuture<T> future;
        try {
            future = call.get();
        } catch (RuntimeException e) {
            fail(observation, response, toStatus(xid, e));
            return;
        }
        future.whenComplete((result, error) -> observations.inScope(xid, observation, () -> {
            if (error instanceof CancellationException) {
                observation.stop(); // the caller cancelled the call: nobody to answer
                return;
            }
            if (error != null) {
                fail(observation, response, toStatus(xid, error));
                return;
            }
            R mapped;
            try {
                mapped = map.apply(result);
            } catch (RuntimeException e) {
                fail(observation, response, toStatus(xid, e));
                return;
            }
            if (result instanceof GlobalTransaction begun && xid == null) {
                observation.highCardinalityKeyValue(TraceKeys.XID, begun.xid());
            }
            response.onNext(mapped);
            response.onCompleted();
            observation.stop();
        }));
    }

    private static <R> void fail(Observation observation, StreamObserver<R> response, StatusRuntimeException status) {
        response.onError(status);
        observation.error(status);
        observation.stop();
    }

    /** The service, with each request's metadata kept for {@link TcObservations#request} when tracing is on. */
    ServerServiceDefinition serviceDefinition() {
        ServerServiceDefinition service = bindService();
        return observations.enabled() ? ServerInterceptors.intercept(service, observations.headersInterceptor()) : service;
    }

    static StatusRuntimeException toStatus(String xid, Throwable error) {
        Throwable e = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (e instanceof CoordinatorException ce) {
            Status status = switch (ce.errorCode()) {
                case UNKNOWN_XID, UNKNOWN_BRANCH -> Status.NOT_FOUND;
                case INVALID_REQUEST, REQUEST_TOO_LARGE -> Status.INVALID_ARGUMENT;
                case UNAUTHENTICATED -> Status.UNAUTHENTICATED;
                case PERMISSION_DENIED -> Status.PERMISSION_DENIED;
                case TOO_MANY_TRANSACTIONS -> Status.RESOURCE_EXHAUSTED;
                default -> Status.FAILED_PRECONDITION;
            };
            return status.withDescription(ce.getMessage()).asRuntimeException(trailer(ce.errorCode()));
        }
        if (e instanceof StoreUnavailableException) {
            log.warn("Store unavailable while serving xid={}: {}", LogText.safe(xid), e.getMessage());
            return Status.UNAVAILABLE.withDescription("The TC's store cannot write right now (" + e.getMessage()
                    + "); nothing was changed, try again").asRuntimeException(trailer(ErrorCode.STORE_UNAVAILABLE));
        }
        if (e instanceof StatusRuntimeException sre) {
            return sre;
        }
        log.warn("Unexpected failure serving xid={}: {}", LogText.safe(xid), e.toString(), e);
        return Status.INTERNAL.withDescription("Unexpected TC failure: " + e).asRuntimeException();
    }

    static Metadata trailer(ErrorCode code) {
        Metadata m = new Metadata();
        m.put(Protocol.ERROR_CODE_TRAILER, code.name());
        return m;
    }
}
