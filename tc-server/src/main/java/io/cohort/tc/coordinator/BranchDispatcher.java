package io.cohort.tc.coordinator;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchCommands;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchType;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.tc.model.Branch;
import io.grpc.stub.StreamObserver;
import io.cohort.tc.support.LogText;
import io.cohort.tc.support.WarningThrottle;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import com.google.protobuf.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TC's side of the RM command streams: which RM processes are connected with which resources,
 * and the branch commands in flight. A command goes to the RM that registered the branch when it
 * is connected, else to any RM announcing the resource. Commands for one RM are coalesced into one
 * stream message when they arrive together. A command with no answer within the command timeout,
 * or whose RM disconnects, completes as a retryable failure; the driver retries it later.
 *
 * <p>An answer counts only when it comes on the stream its command went to and names the
 * command's (xid, branch): request ids are random, but it is the binding to the stream that keeps
 * another RM (anyone holding the client token) from finishing a branch it does not hold.
 */
public final class BranchDispatcher {

    private static final Logger log = LoggerFactory.getLogger(BranchDispatcher.class);

    private final Map<String, List<RmSession>> sessionsByResource = new ConcurrentHashMap<>();
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final SecureRandom requestIds = new SecureRandom();
    private final WarningThrottle forgedAnswers = new WarningThrottle(log, "branch result not matching its command",
            20, Duration.ofSeconds(10), Clock.systemUTC());
    private final Executor sendExecutor;
    private final Duration commandTimeout;

    public BranchDispatcher(Executor sendExecutor, ScheduledExecutorService scheduler, Duration commandTimeout) {
        this.sendExecutor = sendExecutor;
        this.commandTimeout = commandTimeout;
        long period = Math.max(100, commandTimeout.toMillis() / 4);
        scheduler.scheduleWithFixedDelay(this::expireOverdue, period, period, TimeUnit.MILLISECONDS);
    }

    /**
     * What one branch command came back with; {@code decidedByRm} when the status is one the RM
     * reached on its own (3PC termination), not the command's result.
     */
    public record Outcome(BranchStatus status, String reason, boolean decidedByRm) {
        static Outcome retryable(BranchAction action, String reason) {
            return new Outcome(switch (action) {
                case ROLLBACK -> BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE;
                case CAN_COMMIT -> BranchStatus.VOTED_NO;
                default -> BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE;
            }, reason, false);
        }
    }

    /** An RM stream after its hello. */
    public final class RmSession {
        private final String clientId;
        private final String applicationId;
        private final Set<String> resourceIds;
        private final StreamObserver<TcMessage> outbound;
        private final Queue<BranchCommand> queue = new ConcurrentLinkedQueue<>();
        private final AtomicBoolean flushScheduled = new AtomicBoolean();
        private volatile boolean open = true;

        RmSession(String clientId, String applicationId, Set<String> resourceIds, StreamObserver<TcMessage> outbound) {
            this.clientId = clientId;
            this.applicationId = applicationId;
            this.resourceIds = resourceIds;
            this.outbound = outbound;
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

        void enqueue(BranchCommand command) {
            queue.add(command);
            if (flushScheduled.compareAndSet(false, true)) {
                sendExecutor.execute(this::flush);
            }
        }

        private void flush() {
            flushScheduled.set(false);
            List<BranchCommand> batch = new ArrayList<>();
            BranchCommand c;
            while ((c = queue.poll()) != null) {
                batch.add(c);
            }
            if (batch.isEmpty() || !open) {
                return;
            }
            try {
                synchronized (outbound) {
                    outbound.onNext(TcMessage.newBuilder()
                            .setCommands(BranchCommands.newBuilder().addAllCommands(batch)).build());
                }
            } catch (RuntimeException e) {
                log.warn("Sending {} branch commands to RM {} failed: {}", batch.size(), LogText.safe(clientId), e.toString());
                disconnected(this);
            }
        }

        public void send(TcMessage message) {
            synchronized (outbound) {
                outbound.onNext(message);
            }
        }
    }

    private record Pending(RmSession session, String xid, long branchId, BranchAction action,
                           CompletableFuture<Outcome> future, long sentAtNanos) {
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
        pending.entrySet().removeIf(e -> {
            if (e.getValue().session == session) {
                e.getValue().future.complete(Outcome.retryable(e.getValue().action,
                        "RM " + session.clientId + " disconnected before answering"));
                return true;
            }
            return false;
        });
        log.info("RM {} disconnected", LogText.safe(session.clientId));
    }

    public boolean hasResource(String resourceId) {
        List<RmSession> list = sessionsByResource.get(resourceId);
        return list != null && !list.isEmpty();
    }

    /** The resources at least one connected RM announced. */
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

    /** Sends {@code action} for {@code branch} to an RM holding its resource. Never fails: see {@link Outcome}. */
    public CompletableFuture<Outcome> send(String xid, Branch branch, BranchAction action) {
        RmSession session = pick(branch);
        if (session == null) {
            return CompletableFuture.completedFuture(Outcome.retryable(action,
                    "no RM connected for resource " + branch.resourceId()));
        }
        CompletableFuture<Outcome> future = new CompletableFuture<>();
        Pending command = new Pending(session, xid, branch.branchId(), action, future, System.nanoTime());
        long requestId;
        do {
            requestId = requestIds.nextLong();
        } while (requestId == 0 || pending.putIfAbsent(requestId, command) != null);
        session.enqueue(BranchCommand.newBuilder()
                .setRequestId(requestId)
                .setXid(xid)
                .setBranchId(branch.branchId())
                .setResourceId(branch.resourceId())
                .setAction(action)
                .setBranchType(BranchType.AT)
                .setApplicationData(ByteString.copyFrom(branch.applicationData()))
                .build());
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
        if (p.session != from || !p.xid.equals(result.getXid()) || p.branchId != result.getBranchId()) {
            forgedAnswers.warn("Ignored a branch result from RM {} for xid={} branchId={}: its request id belongs to "
                            + "a command for xid={} branchId={} sent to RM {}", LogText.safe(from.clientId),
                    LogText.safe(result.getXid()), result.getBranchId(), p.xid, p.branchId, LogText.safe(p.session.clientId));
            return;
        }
        if (!pending.remove(result.getRequestId(), p)) {
            return; // expired or disconnected meanwhile
        }
        BranchStatus status;
        try {
            status = BranchStatus.fromWire(result.getStatus());
        } catch (IllegalArgumentException e) {
            p.future.complete(Outcome.retryable(p.action, "RM " + LogText.safe(from.clientId)
                    + " answered an unknown status " + result.getStatusValue()));
            return;
        }
        p.future.complete(new Outcome(status, result.getReason(), result.getDecidedByRm()));
    }

    private void expireOverdue() {
        long cutoff = System.nanoTime() - commandTimeout.toNanos();
        pending.entrySet().removeIf(e -> {
            Pending p = e.getValue();
            if (p.sentAtNanos < cutoff) {
                p.future.complete(Outcome.retryable(p.action, "RM " + p.session.clientId + " did not answer within "
                        + commandTimeout));
                return true;
            }
            return false;
        });
    }

    public int pendingCount() {
        return pending.size();
    }
}
