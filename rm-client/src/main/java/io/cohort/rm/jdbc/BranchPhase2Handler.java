package io.cohort.rm.jdbc;

import io.cohort.client.BranchCommandHandler;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.TraceKeys;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.transport.Kind;
import io.micrometer.observation.transport.ReceiverContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Does what the TC asks for each branch (phase 2 of AT mode). Idempotent, as the TC repeats what it
 * got no answer for:
 * <ul>
 *   <li>COMMIT: the data is already committed; queue the undo-log delete and answer
 *       PHASE2_COMMITTED at once. A repeat queues a delete that finds nothing;</li>
 *   <li>ROLLBACK: {@link LocalBranches#rollback} — apply the images backward (from the undo-log
 *       row, or from the command's application data where the TC held them), or write the
 *       empty-rollback marker, or report a dirty write. Only tables the branch wrote, as recorded at
 *       the TC ({@link BranchData}, the command's application data), are touched. A repeat finds the
 *       marker or no undo log (or rows as the branch found them) and answers PHASE2_ROLLBACKED;</li>
 *   <li>CAN_COMMIT, PRE_COMMIT, REDO (three-phase commit): {@link LocalBranches} — vote on the
 *       undo log and the current rows, record the pre-commit durably, redo a branch this RM rolled
 *       back on its own. A COMMIT or ROLLBACK of a branch the RM finished on its own is answered
 *       from what it did: the same outcome is "done", a contradicting one says so (decided_by_rm,
 *       or an unretryable failure when a committed branch is asked to roll back).</li>
 * </ul>
 * A CanCommit or PreCommit is word from the TC: it restarts the branch's 3PC termination timer.
 */
final class BranchPhase2Handler implements BranchCommandHandler {

    private static final Logger log = LoggerFactory.getLogger(BranchPhase2Handler.class);

    private final Function<String, Resource> resources;
    private final AsyncUndoDeleter deleter;
    private final LocalBranches branches;
    private final ObservationRegistry observations;

    BranchPhase2Handler(Function<String, Resource> resources, AsyncUndoDeleter deleter, LocalBranches branches) {
        this(resources, deleter, branches, ObservationRegistry.NOOP);
    }

    /** {@code observations}: a span per command, the child of the TC's span that sent it (its trace_context). */
    BranchPhase2Handler(Function<String, Resource> resources, AsyncUndoDeleter deleter, LocalBranches branches,
                        ObservationRegistry observations) {
        this.resources = resources;
        this.deleter = deleter;
        this.branches = branches;
        this.observations = observations;
    }

    /**
     * Answers a batch of commands, in order. The CanCommits of one resource are answered together in
     * one local transaction ({@link LocalBranches#voteAll}), and so are its PreCommits
     * ({@link LocalBranches#preCommitAll}); every other command, and a group of one, is done alone.
     */
    @Override
    public List<BranchResult> handle(List<BranchCommand> commands) {
        BranchResult[] results = new BranchResult[commands.size()];
        if (commands.size() > 1) {
            Map<String, List<Integer>> groups = new LinkedHashMap<>();
            for (int i = 0; i < commands.size(); i++) {
                BranchCommand c = commands.get(i);
                if (c.getAction() == BranchAction.CAN_COMMIT || c.getAction() == BranchAction.PRE_COMMIT) {
                    groups.computeIfAbsent(c.getAction() + "\n" + c.getResourceId(), k -> new ArrayList<>()).add(i);
                }
            }
            for (List<Integer> group : groups.values()) {
                if (group.size() > 1) {
                    handleTogether(commands, group, results);
                }
            }
        }
        for (int i = 0; i < results.length; i++) {
            if (results[i] == null) {
                results[i] = handleGuarded(commands.get(i));
            }
        }
        return List.of(results);
    }

    /**
     * COMMITs of branches this RM did not decide alone on loaded resources: their only work is the
     * undo-log delete queued for later ({@link AsyncUndoDeleter}), so they are answered on the
     * stream's network thread; any other batch is left to a worker (null). This path never reads the
     * database: a branch found decided alone here goes to a worker, and one decided alone after this
     * check gets the plain delete, as it would on a worker whose check came just before.
     */
    @Override
    public List<BranchResult> answerAtOnce(List<BranchCommand> commands) {
        Resource[] loaded = new Resource[commands.size()];
        for (int i = 0; i < loaded.length; i++) {
            BranchCommand c = commands.get(i);
            if (c.getAction() != BranchAction.COMMIT) {
                return null;
            }
            loaded[i] = resources.apply(c.getResourceId());
            if (loaded[i] == null || branches.needsCheckOnCommit(loaded[i], c.getXid(), c.getBranchId())) {
                return null;
            }
        }
        BranchResult[] results = new BranchResult[loaded.length];
        for (int i = 0; i < loaded.length; i++) {
            Resource resource = loaded[i];
            results[i] = handle(commands.get(i), c -> queueCommit(resource, c));
        }
        return List.of(results);
    }

    /** A COMMIT of a branch not decided alone: the data is committed, the undo log goes later. */
    private LocalBranches.Answer queueCommit(Resource resource, BranchCommand command) {
        deleter.enqueue(resource, command.getXid(), command.getBranchId());
        return new LocalBranches.Answer(BranchStatus.PHASE2_COMMITTED, "", false);
    }

    private BranchResult handleGuarded(BranchCommand command) {
        try {
            return handle(command);
        } catch (RuntimeException e) {
            // One branch's surprise must not cost the others of the batch their answers.
            String reason = "unexpected failure handling " + command.getAction() + ": " + e;
            log.warn("Branch {} of {}: {}", command.getBranchId(), command.getXid(), reason, e);
            return result(command, failureFor(command), reason);
        }
    }

    /** The commands at {@code indexes}, all CanCommit or all PreCommit on one resource, in one local transaction. */
    private void handleTogether(List<BranchCommand> commands, List<Integer> indexes, BranchResult[] results) {
        BranchCommand first = commands.get(indexes.get(0));
        Resource resource = resources.apply(first.getResourceId());
        if (resource == null) {
            return; // each is answered alone, saying so
        }
        List<UndoLogTable.Branch> batch = new ArrayList<>(indexes.size());
        List<Observation> traced = new ArrayList<>(indexes.size());
        for (int i : indexes) {
            BranchCommand c = commands.get(i);
            batch.add(new UndoLogTable.Branch(c.getXid(), c.getBranchId()));
            if (!observations.isNoop()) {
                traced.add(startObservation(c));
            }
        }
        List<LocalBranches.Answer> answers;
        try {
            answers = first.getAction() == BranchAction.CAN_COMMIT ? branches.voteAll(resource, batch)
                    : branches.preCommitAll(resource, batch);
        } catch (RuntimeException e) {
            log.warn("{} of {} branches on {} (first: branch {} of {}) failed together; each is taken alone: {}",
                    first.getAction(), batch.size(), first.getResourceId(), first.getBranchId(), first.getXid(), e.toString());
            traced.forEach(Observation::stop);
            return;
        }
        for (int j = 0; j < indexes.size(); j++) {
            BranchCommand c = commands.get(indexes.get(j));
            LocalBranches.Answer answer = answers.get(j);
            BranchResult result = result(c, answer.status(), answer.reason()).toBuilder()
                    .setDecidedByRm(answer.decidedByRm()).build();
            results[indexes.get(j)] = result;
            if (!traced.isEmpty()) {
                traced.get(j).lowCardinalityKeyValue(TraceKeys.OUTCOME,
                        answer.status().name().toLowerCase(Locale.ROOT)).stop();
            }
        }
    }

    BranchResult handle(BranchCommand command) {
        return handle(command, this::answer);
    }

    /** {@code how}'s answer to {@code command}, in the command's span when tracing. */
    private BranchResult handle(BranchCommand command, Function<BranchCommand, LocalBranches.Answer> how) {
        if (observations.isNoop()) {
            return resultOf(command, how.apply(command));
        }
        Observation observation = startObservation(command);
        try (Observation.Scope scope = observation.openScope()) {
            BranchResult result = resultOf(command, how.apply(command));
            // The branch status as the TC's send span names it (PHASE2_COMMITTED, not the wire's BRANCH_ prefix).
            observation.lowCardinalityKeyValue(TraceKeys.OUTCOME,
                    BranchStatus.fromWire(result.getStatus()).name().toLowerCase(Locale.ROOT));
            return result;
        } catch (RuntimeException e) {
            observation.error(e);
            throw e;
        } finally {
            observation.stop();
        }
    }

    /** The command's span, started: the child of the TC's span that sent it (its trace_context). */
    private Observation startObservation(BranchCommand command) {
        ReceiverContext<BranchCommand> context = new ReceiverContext<>(
                (carrier, key) -> carrier.getTraceContextMap().get(key), Kind.CONSUMER);
        context.setCarrier(command);
        context.setRemoteServiceName("cohort-tc");
        String action = command.getAction().name().toLowerCase(Locale.ROOT);
        return Observation.createNotStarted(TraceKeys.RM_BRANCH_COMMAND, () -> context, observations)
                .contextualName("cohort branch " + action)
                .lowCardinalityKeyValue(TraceKeys.ACTION, action)
                .lowCardinalityKeyValue(TraceKeys.RESOURCE_ID, command.getResourceId())
                .lowCardinalityKeyValue(TraceKeys.OUTCOME, "unknown")
                .highCardinalityKeyValue(TraceKeys.XID, command.getXid())
                .highCardinalityKeyValue(TraceKeys.BRANCH_ID, Long.toString(command.getBranchId()))
                .start();
    }

    private static BranchResult resultOf(BranchCommand command, LocalBranches.Answer answer) {
        return result(command, answer.status(), answer.reason()).toBuilder().setDecidedByRm(answer.decidedByRm()).build();
    }

    private LocalBranches.Answer answer(BranchCommand command) {
        Resource resource = resources.apply(command.getResourceId());
        if (resource == null) {
            String reason = "this RM does not manage resource " + command.getResourceId();
            log.warn("Branch {} of {}: {}", command.getBranchId(), command.getXid(), reason);
            return new LocalBranches.Answer(failureFor(command), reason, false);
        }
        String xid = command.getXid();
        long branchId = command.getBranchId();
        return switch (command.getAction()) {
            case COMMIT -> branches.needsCheckOnCommit(resource, xid, branchId)
                    ? branches.commitDecidedAlone(resource, xid, branchId) : queueCommit(resource, command);
            case ROLLBACK -> {
                BranchData.Recorded recorded;
                try {
                    recorded = BranchData.decode(command.getApplicationData().toByteArray());
                } catch (IllegalArgumentException e) {
                    String why = "cannot check the undo log of branch " + branchId + " of " + xid + " against the"
                            + " tables it wrote: " + e.getMessage() + "; roll it back by hand";
                    log.error("Rollback refused: {}", why);
                    yield new LocalBranches.Answer(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, why, false);
                }
                yield branches.rollback(resource, xid, branchId, recorded);
            }
            case CAN_COMMIT -> branches.vote(resource, xid, branchId);
            case PRE_COMMIT -> branches.preCommit(resource, xid, branchId);
            case REDO -> branches.redo(resource, xid, branchId);
            default -> new LocalBranches.Answer(failureFor(command),
                    "unsupported branch action " + command.getAction(), false);
        };
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
