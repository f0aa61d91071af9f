package io.cohort.rm.branch;

import io.cohort.client.BranchCommandHandler;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.rm.Resource;
import io.cohort.rm.undo.UndoExecutor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Does what the TC asks for each branch (phase 2 of AT mode). Idempotent, as the TC repeats what it
 * got no answer for:
 * <ul>
 *   <li>COMMIT: the data is already committed; queue the undo-log delete and answer
 *       PHASE2_COMMITTED at once. A repeat queues a delete that finds nothing;</li>
 *   <li>ROLLBACK: {@link UndoExecutor} — restore the before images, or write the empty-rollback
 *       marker, or report a dirty write. A repeat finds the marker or no undo log and answers
 *       PHASE2_ROLLBACKED;</li>
 *   <li>CAN_COMMIT / PRE_COMMIT (three-phase commit): not supported by this RM yet — it votes no,
 *       so the TC aborts safely.</li>
 * </ul>
 */
public final class BranchPhase2Handler implements BranchCommandHandler {

    private static final Logger log = LoggerFactory.getLogger(BranchPhase2Handler.class);

    private final Function<String, Resource> resources;
    private final AsyncUndoDeleter deleter;

    public BranchPhase2Handler(Function<String, Resource> resources, AsyncUndoDeleter deleter) {
        this.resources = resources;
        this.deleter = deleter;
    }

    @Override
    public List<BranchResult> handle(List<BranchCommand> commands) {
        List<BranchResult> results = new ArrayList<>(commands.size());
        for (BranchCommand command : commands) {
            results.add(handle(command));
        }
        return results;
    }

    public BranchResult handle(BranchCommand command) {
        Resource resource = resources.apply(command.getResourceId());
        if (resource == null) {
            String reason = "this RM does not manage resource " + command.getResourceId();
            log.warn("Branch {} of {}: {}", command.getBranchId(), command.getXid(), reason);
            return result(command, failureFor(command), reason);
        }
        switch (command.getAction()) {
            case COMMIT -> {
                deleter.enqueue(resource, command.getXid(), command.getBranchId());
                return result(command, BranchStatus.PHASE2_COMMITTED, "");
            }
            case ROLLBACK -> {
                UndoExecutor.Outcome outcome =
                        resource.undoExecutor().rollback(resource.target(), command.getXid(), command.getBranchId());
                return result(command, outcome.status(), outcome.reason());
            }
            case CAN_COMMIT -> {
                return result(command, BranchStatus.VOTED_NO, "three-phase commit is not supported by this RM yet");
            }
            default -> {
                return result(command, failureFor(command), "unsupported branch action " + command.getAction());
            }
        }
    }

    private static BranchStatus failureFor(BranchCommand command) {
        return switch (command.getAction()) {
            case ROLLBACK -> BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE;
            case CAN_COMMIT -> BranchStatus.VOTED_NO;
            default -> BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE;
        };
    }

    private static BranchResult result(BranchCommand command, BranchStatus status, String reason) {
        return BranchResult.newBuilder()
                .setRequestId(command.getRequestId())
                .setXid(command.getXid())
                .setBranchId(command.getBranchId())
                .setStatus(status.toWire())
                .setReason(reason == null ? "" : reason)
                .build();
    }
}
