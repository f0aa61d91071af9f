package io.cohort.tc.coordinator;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.tc.model.Branch;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * How the coordinator reaches the RMs that hold its branches. The coordinator decides and records;
 * a channel only carries one command to an RM and brings back its answer. The TC's channel is the
 * RM command streams over gRPC ({@code rpc.BranchDispatcher}); tests script one.
 */
public interface BranchChannel {

    /**
     * What one branch command came back with; {@code decidedByRm} when the status is one the RM
     * reached on its own (3PC termination), not the command's result.
     */
    record Outcome(BranchStatus status, String reason, boolean decidedByRm) {

        /** The answer that makes the driver try {@code action} again later (or, for a vote, count it as no). */
        public static Outcome retryable(BranchAction action, String reason) {
            return new Outcome(switch (action) {
                case ROLLBACK -> BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE;
                case CAN_COMMIT -> BranchStatus.VOTED_NO;
                default -> BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE;
            }, reason, false);
        }
    }

    /**
     * Whether a command must leave at once or may wait a moment for others to the same RM. A
     * two-phase commit's command only lets the RM delete its undo log (the locks went with the
     * decision, the TM has its answer), so it may wait and share a message with the next ones; a
     * rollback or a 3PC command (locks are held until it is answered) may not.
     */
    enum Urgency { NOW, MAY_WAIT }

    /**
     * Sends {@code action} for {@code branch} of {@code xid} to an RM holding its resource, carrying
     * {@code traceContext} (W3C headers). Never fails: an RM that cannot be reached, or does not
     * answer in time, completes as {@link Outcome#retryable}.
     */
    CompletableFuture<Outcome> send(String xid, Branch branch, BranchAction action, Map<String, String> traceContext,
                                    Urgency urgency);

    /** Whether a connected RM announced {@code resourceId}: only then can its branches be finished here. */
    boolean hasResource(String resourceId);

    /** The resources at least one connected RM announced. */
    Set<String> resourceIds();

    /** Commands sent and not answered yet (a gauge). */
    int pendingCount();

    /** Bytes of commands waiting for their RMs to take them (a gauge). */
    long queuedBytes();
}
