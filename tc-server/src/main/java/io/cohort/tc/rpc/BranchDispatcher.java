package io.cohort.tc.rpc;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchCommands;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchType;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.tc.coordinator.BranchChannel;
import io.cohort.tc.model.Branch;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.cohort.tc.support.AfterCompletions;
import io.cohort.tc.support.LogText;
import io.cohort.tc.support.TcObservations;
import io.cohort.tc.support.WarningThrottle;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import com.google.protobuf.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TC's {@link BranchChannel}: its side of the RM command streams over gRPC, which RM processes are connected with which resources,
 * and the branch commands in flight. A command goes to the RM that registered the branch when it
 * is connected, else to any RM announcing the resource. Commands for one RM are coalesced into one
 * stream message when they arrive together (those queued by one batch of store completions always
 * are, see {@link AfterCompletions}; a command that {@link Urgency#MAY_WAIT} waits a moment for
 * others), and only as fast as the stream takes them (gRPC flow
 * control; see {@link RmSession}). A command with no answer within the command timeout, or whose
 * RM disconnects, completes as a retryable failure; the driver retries it later. A stream that
 * takes nothing for a command timeout is closed as a dead RM.
 *
 * <p>An answer counts only when it comes on the stream its command went to and names the
 * command's (xid, branch): request ids are random, but it is the binding to the stream that keeps
 * another RM (anyone holding the client token) from finishing a branch it does not hold.
 */
public final class BranchDispatcher implements BranchChannel {

    private static final Logger log = LoggerFactory.getLogger(BranchDispatcher.class);
    /** A batch is cut here (a single larger command still goes alone), well below a client's 4 MiB inbound limit. */
    private static final long MAX_BATCH_BYTES = 1 << 20;

    private final Map<String, List<RmSession>> sessionsByResource = new ConcurrentHashMap<>();
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final SecureRandom requestIds = new SecureRandom();
    private final WarningThrottle forgedAnswers = new WarningThrottle(log, "branch result not matching its command",
            20, Duration.ofSeconds(10), Clock.systemUTC());
    private final WarningThrottle stalledStreams = new WarningThrottle(log, "RM stream not reading its commands",
            20, Duration.ofSeconds(10), Clock.systemUTC());
    private final Executor sendExecutor;
    private final ScheduledExecutorService scheduler;
    private final long commitBatchDelayNanos;
    private final Duration commandTimeout;
    private final long maxQueuedBytesPerStream;

    /**
     * @param maxQueuedBytesPerStream bytes of commands held for one RM stream that does not take
     *                                them; more commands for it fail (retryable) until it reads
     * @param commitBatchDelay        how long a command that {@link Urgency#MAY_WAIT} waits for others
     *                                to share its stream message; zero sends it at once
     */
    public BranchDispatcher(Executor sendExecutor, ScheduledExecutorService scheduler, Duration commandTimeout,
                            long maxQueuedBytesPerStream, Duration commitBatchDelay) {
        this.sendExecutor = sendExecutor;
        this.scheduler = scheduler;
        this.commitBatchDelayNanos = commitBatchDelay.toNanos();
        this.commandTimeout = commandTimeout;
        this.maxQueuedBytesPerStream = maxQueuedBytesPerStream;
        long period = Math.max(100, commandTimeout.toMillis() / 4);
        scheduler.scheduleWithFixedDelay(() -> {
            expireOverdue();
            closeStalled();
        }, period, period, TimeUnit.MILLISECONDS);
    }

    /** A command is the same as another when it asks the same of the same branch. */
    private record CommandKey(String xid, long branchId, BranchAction action) {
        // Written out, as RowKey's: looked up for every command sent and answered.
        @Override
        public boolean equals(Object o) {
            return this == o || o instanceof CommandKey k && branchId == k.branchId && action == k.action
                    && Objects.equals(xid, k.xid);
        }

        @Override
        public int hashCode() {
            return (Objects.hashCode(xid) * 31 + Long.hashCode(branchId)) * 31 + Objects.hashCode(action);
        }
    }

    /**
     * An RM stream after its hello. Commands wait in {@code unsent} until gRPC flow control says
     * the stream takes more ({@code isReady}), so an RM that does not read costs at most
     * {@code maxQueuedBytesPerStream} here plus gRPC's own small buffer, never one copy per retry.
     * {@code outstanding} is every command queued or awaiting its answer on this stream, by what
     * it asks: a retry of one of them waits for it instead of adding a copy. Guarded by {@code this}.
     */
    public final class RmSession {
        private final String clientId;
        private final String applicationId;
        private final Set<String> resourceIds;
        private final StreamObserver<TcMessage> outbound;
        private final ServerCallStreamObserver<TcMessage> flowControl;
        private final Map<Long, BranchCommand> unsent = new LinkedHashMap<>();
        private final Map<CommandKey, Long> outstanding = new HashMap<>();
        private final AtomicBoolean flushScheduled = new AtomicBoolean();
        private final AtomicBoolean delayedFlushScheduled = new AtomicBoolean();
        private long unsentBytes;
        private long stalledSinceNanos;
        private boolean streamClosed; // guarded by outbound
        private volatile boolean open = true;

        RmSession(String clientId, String applicationId, Set<String> resourceIds, StreamObserver<TcMessage> outbound) {
            this.clientId = clientId;
            this.applicationId = applicationId;
            this.resourceIds = resourceIds;
            this.outbound = outbound;
            this.flowControl = outbound instanceof ServerCallStreamObserver<TcMessage> s ? s : null;
        }

        public String clientId() {
            return clientId;
        }

        public String applicationId() {
            return applicationId;
        }

        public Set<String> resourceIds() {
            return resourceIds;
        }

        /** gRPC says the stream takes more: send what waits. */
        public void onReady() {
            scheduleFlush();
        }

        /**
         * A command that may wait goes with the next flush: another command's, or at the latest its
         * own, {@code commitBatchDelay} after the first such command found none scheduled: one
         * message, and one answer, for the commits of several transactions.
         */
        private void scheduleFlush(Urgency urgency) {
            if (urgency == Urgency.NOW || commitBatchDelayNanos == 0) {
                scheduleFlush();
                return;
            }
            if (delayedFlushScheduled.compareAndSet(false, true)) {
                try {
                    scheduler.schedule(() -> {
                        delayedFlushScheduled.set(false);
                        scheduleFlush();
                    }, commitBatchDelayNanos, TimeUnit.NANOSECONDS);
                } catch (RejectedExecutionException e) {
                    delayedFlushScheduled.set(false); // the TC is stopping: send at once
                    scheduleFlush();
                }
            }
        }

        /**
         * Sends what waits: at the end of the batch of completions this thread is running (the commands
         * of a batch of decisions in one message, without a hop), else on the send executor.
         */
        private void scheduleFlush() {
            if (flushScheduled.compareAndSet(false, true) && !AfterCompletions.defer(this::flush)) {
                sendExecutor.execute(this::flush);
            }
        }

        private void flush() {
            flushScheduled.set(false);
            while (open) {
                List<BranchCommand> batch = new ArrayList<>();
                synchronized (this) {
                    if (unsent.isEmpty()) {
                        stalledSinceNanos = 0;
                        return;
                    }
                    if (flowControl != null && !flowControl.isReady()) {
                        if (stalledSinceNanos == 0) {
                            stalledSinceNanos = System.nanoTime();
                        }
                        return; // the onReady handler flushes again
                    }
                    stalledSinceNanos = 0;
                    long bytes = 0;
                    var it = unsent.values().iterator();
                    while (it.hasNext() && (batch.isEmpty() || bytes < MAX_BATCH_BYTES)) {
                        BranchCommand c = it.next();
                        it.remove();
                        unsentBytes -= c.getSerializedSize();
                        if (!pending.containsKey(c.getRequestId())) {
                            // Nobody waits for its answer any more (timed out, not retried): drop it.
                            outstanding.remove(new CommandKey(c.getXid(), c.getBranchId(), c.getAction()), c.getRequestId());
                            continue;
                        }
                        bytes += c.getSerializedSize();
                        batch.add(c);
                    }
                }
                if (batch.isEmpty()) {
                    continue;
                }
                try {
                    synchronized (outbound) {
                        if (streamClosed) {
                            return;
                        }
                        outbound.onNext(TcMessage.newBuilder()
                                .setCommands(BranchCommands.newBuilder().addAllCommands(batch)).build());
                    }
                } catch (RuntimeException e) {
                    log.warn("Sending {} branch commands to RM {} failed: {}", batch.size(), LogText.safe(clientId), e.toString());
                    disconnected(this);
                    return;
                }
            }
        }

        /** How long nothing queued could be sent, in nanoseconds; 0 when the stream takes what it gets. */
        private synchronized long stalledNanos(long now) {
            return stalledSinceNanos == 0 || unsent.isEmpty() ? 0 : now - stalledSinceNanos;
        }

        private synchronized long unsentBytes() {
            return unsentBytes;
        }

        /** Drops a command's binding once it can no longer be answered, unless it still waits to be sent. */
        private synchronized void forget(CommandKey key, long requestId, boolean evenIfUnsent) {
            if (evenIfUnsent || !unsent.containsKey(requestId)) {
                outstanding.remove(key, requestId);
            }
        }

        private synchronized void clear() {
            unsent.clear();
            outstanding.clear();
            unsentBytes = 0;
        }

        public void send(TcMessage message) {
            synchronized (outbound) {
                if (!streamClosed) {
                    outbound.onNext(message);
                }
            }
        }

        /** Ends the stream once, from whichever side gets there first; {@code error} null completes it normally. */
        public void closeStream(Status error, Metadata trailers) {
            synchronized (outbound) {
                if (streamClosed) {
                    return;
                }
                streamClosed = true;
                try {
                    if (error == null) {
                        outbound.onCompleted();
                    } else {
                        outbound.onError(error.asRuntimeException(trailers));
                    }
                } catch (RuntimeException e) {
                    log.debug("The stream of RM {} was closed already: {}", LogText.safe(clientId), e.toString());
                }
            }
        }
    }

    private record Pending(RmSession session, CommandKey key, CompletableFuture<Outcome> future, long sentAtNanos) {
    }

    /** Registers a connected RM; returns its session. */
    public RmSession connected(String clientId, String applicationId, List<String> resourceIds,
                               StreamObserver<TcMessage> outbound) {
        RmSession session = new RmSession(clientId, applicationId, Set.copyOf(resourceIds), outbound);
        for (String resourceId : session.resourceIds) {
            sessionsByResource.computeIfAbsent(resourceId, r -> new CopyOnWriteArrayList<>()).add(session);
        }
        log.info("RM {} ({}) connected with resources {}", LogText.safe(clientId), LogText.safe(applicationId),
                LogText.safe(String.valueOf(resourceIds)));
        return session;
    }

    /** Forgets a closed stream and fails its commands in flight (they will be retried). */
    public void disconnected(RmSession session) {
        if (!session.open) {
            return;
        }
        session.open = false;
        for (String resourceId : session.resourceIds) {
            List<RmSession> list = sessionsByResource.get(resourceId);
            if (list != null) {
                list.remove(session);
            }
        }
        session.clear();
        pending.entrySet().removeIf(e -> {
            if (e.getValue().session == session) {
                e.getValue().future.complete(Outcome.retryable(e.getValue().key.action(),
                        "RM " + session.clientId + " disconnected before answering"));
                return true;
            }
            return false;
        });
        log.info("RM {} disconnected", LogText.safe(session.clientId));
    }

    @Override
    public boolean hasResource(String resourceId) {
        List<RmSession> list = sessionsByResource.get(resourceId);
        return list != null && !list.isEmpty();
    }

    /** The resources at least one connected RM announced. */
    @Override
    public Set<String> resourceIds() {
        Set<String> ids = new HashSet<>();
        sessionsByResource.forEach((resourceId, list) -> {
            if (!list.isEmpty()) {
                ids.add(resourceId);
            }
        });
        return ids;
    }

    /** Every connected RM session (for the REST API). */
    public List<RmSession> sessions() {
        return sessionsByResource.values().stream().flatMap(List::stream).distinct().toList();
    }

    private final AtomicInteger roundRobin = new AtomicInteger();

    /**
     * Sends {@code action} for {@code branch} to an RM holding its resource, at once. Never fails: see
     * {@link Outcome}. When the stream already holds the same command, unsent or unanswered, this
     * waits for that one instead of sending a copy.
     */
    public CompletableFuture<Outcome> send(String xid, Branch branch, BranchAction action) {
        return send(xid, branch, action, Map.of(), Urgency.NOW);
    }

    /**
     * As {@link #send(String, Branch, BranchAction)}, the command carrying {@code traceContext} (W3C
     * headers) to the RM, and sent at once or with the next flush as {@code urgency} says.
     */
    @Override
    public CompletableFuture<Outcome> send(String xid, Branch branch, BranchAction action,
                                           Map<String, String> traceContext, Urgency urgency) {
        RmSession session = pick(branch);
        if (session == null) {
            return CompletableFuture.completedFuture(Outcome.retryable(action,
                    "no RM connected for resource " + branch.resourceId()));
        }
        CommandKey key = new CommandKey(xid, branch.branchId(), action);
        CompletableFuture<Outcome> future = new CompletableFuture<>();
        synchronized (session) {
            if (!session.open) {
                return CompletableFuture.completedFuture(Outcome.retryable(action,
                        "RM " + session.clientId + " disconnected before the command was sent"));
            }
            Long queued = session.outstanding.get(key);
            if (queued != null) {
                Pending live = pending.get(queued);
                if (live != null) {
                    return live.future.copy();
                }
                if (session.unsent.containsKey(queued)) {
                    // Its answer timed out before it could even be sent: wait for it again, afresh.
                    pending.put(queued, new Pending(session, key, future, System.nanoTime()));
                    return future;
                }
                session.outstanding.remove(key, queued); // sent, and its answer timed out: send it again
            }
            long requestId;
            Pending p = new Pending(session, key, future, System.nanoTime());
            do {
                requestId = requestIds.nextLong();
            } while (requestId == 0 || pending.putIfAbsent(requestId, p) != null);
            BranchCommand command = BranchCommand.newBuilder()
                    .setRequestId(requestId)
                    .setXid(xid)
                    .setBranchId(branch.branchId())
                    .setResourceId(branch.resourceId())
                    .setAction(action)
                    .setBranchType(BranchType.AT)
                    .setApplicationData(ByteString.copyFrom(branch.applicationData()))
                    .putAllTraceContext(traceContext)
                    .build();
            int bytes = command.getSerializedSize();
            if (!session.unsent.isEmpty() && session.unsentBytes + bytes > maxQueuedBytesPerStream) {
                pending.remove(requestId);
                return CompletableFuture.completedFuture(Outcome.retryable(action, "RM " + session.clientId
                        + " is not taking its commands: " + session.unsentBytes + " bytes wait for it already"
                        + " (cohort.tc.connections.max-queued-bytes-per-stream is " + maxQueuedBytesPerStream + ")"));
            }
            session.unsent.put(requestId, command);
            session.unsentBytes += bytes;
            session.outstanding.put(key, requestId);
        }
        session.scheduleFlush(urgency);
        return future;
    }

    private RmSession pick(Branch branch) {
        List<RmSession> list = sessionsByResource.get(branch.resourceId());
        if (list == null || list.isEmpty()) {
            return null;
        }
        for (RmSession s : list) {
            if (s.clientId.equals(branch.clientId()) && s.open) {
                return s;
            }
        }
        return list.get(Math.floorMod(roundRobin.getAndIncrement(), list.size()));
    }

    /**
     * An RM's answer arrived. Unknown or late answers are ignored (the command was retried or timed
     * out); so is an answer from another stream than the command's, or for another (xid, branch).
     */
    public void resultArrived(RmSession from, BranchResult result) {
        Pending p = pending.get(result.getRequestId());
        if (p == null) {
            log.debug("Late or unknown branch result {} for xid={} branchId={} from RM {}", result.getRequestId(),
                    LogText.safe(result.getXid()), result.getBranchId(), LogText.safe(from.clientId));
            return;
        }
        if (p.session != from || !p.key.xid().equals(result.getXid()) || p.key.branchId() != result.getBranchId()) {
            forgedAnswers.warn("Ignored a branch result from RM {} for xid={} branchId={}: its request id belongs to "
                            + "a command for xid={} branchId={} sent to RM {}", LogText.safe(from.clientId),
                    LogText.safe(result.getXid()), result.getBranchId(), p.key.xid(), p.key.branchId(),
                    LogText.safe(p.session.clientId));
            return;
        }
        if (!pending.remove(result.getRequestId(), p)) {
            return; // expired or disconnected meanwhile
        }
        from.forget(p.key, result.getRequestId(), true);
        BranchStatus status;
        try {
            status = BranchStatus.fromWire(result.getStatus());
        } catch (IllegalArgumentException e) {
            p.future.complete(Outcome.retryable(p.key.action(), "RM " + LogText.safe(from.clientId)
                    + " answered an unknown status " + result.getStatusValue()));
            return;
        }
        // What runs on the answer (the rest of the phase-2 round) logs with the XID in the MDC.
        TcObservations.withXid(p.key.xid(), () -> p.future.complete(new Outcome(status, result.getReason(),
                result.getDecidedByRm())));
    }

    private void expireOverdue() {
        long cutoff = System.nanoTime() - commandTimeout.toNanos();
        pending.entrySet().removeIf(e -> {
            Pending p = e.getValue();
            if (p.sentAtNanos < cutoff) {
                p.session.forget(p.key, e.getKey(), false);
                p.future.complete(Outcome.retryable(p.key.action(), "RM " + p.session.clientId
                        + " did not answer within " + commandTimeout));
                return true;
            }
            return false;
        });
    }

    /**
     * Closes the streams that have not taken a queued command for a whole command timeout: such an
     * RM could not answer anything in time, and its branches go to another RM or wait for it to
     * reconnect. Nothing is half done: a branch counts as done only on its answer.
     */
    private void closeStalled() {
        long now = System.nanoTime();
        for (RmSession s : sessions()) {
            long stalled = s.stalledNanos(now);
            if (stalled > commandTimeout.toNanos()) {
                String why = "it has not read its commands for " + Duration.ofNanos(stalled).toSeconds() + " s ("
                        + s.unsentBytes() + " bytes wait for it); its branches will be retried";
                stalledStreams.warn("Closing the command stream of RM {} ({}): {}", LogText.safe(s.clientId),
                        LogText.safe(s.applicationId), why);
                disconnected(s);
                s.closeStream(Status.UNAVAILABLE.withDescription("the TC closed this RM stream: " + why), null);
            }
        }
    }

    /** Bytes of commands waiting for their RM streams to take them. */
    @Override
    public long queuedBytes() {
        return sessions().stream().mapToLong(RmSession::unsentBytes).sum();
    }

    @Override
    public int pendingCount() {
        return pending.size();
    }
}
