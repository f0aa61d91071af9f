package io.cohort.tc.coordinator;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.coordinator.BranchChannel.Urgency;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.store.TransactionStore;
import io.cohort.tc.support.LogText;
import io.cohort.tc.support.TcObservations;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives global transactions once the TM asked for the outcome: the 3PC vote, and phase 2 of both
 * protocols. Each pass sends every unfinished branch its command, records what comes back, and
 * moves the transaction on — to its next status, to a retry after a backoff (the
 * {@link RecoveryLoop} calls {@link #drive} again), or, when the retry budget is spent or a branch
 * cannot be finished safely, to COMMIT_FAILED / ROLLBACK_FAILED for a person.
 *
 * <ul>
 *   <li><b>2PC commit</b> (ASYNC_COMMITTING): every branch at once. AT data is committed already;
 *       phase 2 only deletes undo logs, and the locks were released at the decision.</li>
 *   <li><b>3PC</b>: PRE_COMMITTING collects CanCommit votes (any no or missing vote aborts);
 *       PRE_COMMITTED sends PreCommit to every branch; COMMITTING sends DoCommit. The row locks
 *       stay held until the end, so a branch an RM rolled back on its own (it heard nothing while
 *       cut off) can be redone from its after image: the outcome is then marked heuristic, with
 *       the evidence kept on the branch.</li>
 *   <li><b>Rollback</b>: one branch at a time in reverse registration order; locks are released
 *       after the last one and kept when a rollback fails, so nobody builds on data that still has
 *       to be restored.</li>
 * </ul>
 *
 * <p>One transaction is driven by at most one task at a time in this process ({@code inFlight}), and
 * by one replica at a time: the one holding its lease in the store (see {@link TransactionStore}).
 * A replica that finds a branch on a resource no RM announced to it hands the transaction over
 * ({@link TransactionStore#releaseLease}) to a replica that has one, instead of retrying in vain.
 */
public final class Phase2Driver {

    private static final Logger log = LoggerFactory.getLogger(Phase2Driver.class);

    private final TransactionStore store;
    private final BranchChannel channel;
    private final TcMetrics metrics;
    private final Clock clock;
    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final int maxAttempts;
    private final Duration voteTimeout;
    private final TcObservations observations;
    private final LockWaits lockWaits;
    private final StatusMoves moves;
    private final ScheduledExecutorService timer;
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();
    private final Map<String, RetryState> retries = new ConcurrentHashMap<>();
    /** Commands sent per branch of each transaction this replica drives (the console shows them); kept until it ends. */
    private final Map<String, Map<Long, Integer>> attempts = new ConcurrentHashMap<>();
    /** Transactions this replica parked for a person: their attempts stay shown until they are retried. */
    private final Set<String> parked = ConcurrentHashMap.newKeySet();

    private record RetryState(int attempts, long nextAttemptAtMs) {
    }

    /**
     * {@code observations}: a span per command sent, the child of the request that decided the
     * transaction; {@code lockWaits}: woken when a transaction's locks are released; {@code timer}:
     * ends the 3PC votes not answered within {@code voteTimeout} (on {@code clock}'s time).
     */
    public Phase2Driver(TransactionStore store, BranchChannel channel, TcMetrics metrics, Clock clock,
                        Duration initialBackoff, Duration maxBackoff, int maxAttempts, Duration voteTimeout,
                        TcObservations observations, LockWaits lockWaits, ScheduledExecutorService timer) {
        this.moves = new StatusMoves(store);
        this.timer = timer;
        this.observations = observations;
        this.store = store;
        this.channel = channel;
        this.metrics = metrics;
        this.clock = clock;
        this.initialBackoff = initialBackoff;
        this.maxBackoff = maxBackoff;
        this.maxAttempts = maxAttempts;
        this.voteTimeout = voteTimeout;
        this.lockWaits = lockWaits;
    }

    /** The resources an RM announced to this replica: the transactions it can finish. */
    Set<String> reachableResources() {
        return channel.resourceIds();
    }

    /** Drops the retry state of transactions this replica no longer works on (ended, or owned by another). */
    void forgetAllBut(List<GlobalTransaction> mine) {
        if (!retries.isEmpty() || !attempts.isEmpty() || observations.enabled()) {
            Set<String> keep = new HashSet<>();
            mine.forEach(tx -> keep.add(tx.xid()));
            retries.keySet().retainAll(keep);
            keep.addAll(inFlight);
            attempts.keySet().removeIf(xid -> !keep.contains(xid) && !parked.contains(xid));
            observations.retainOnly(keep);
        }
    }

    /**
     * Commands sent to each branch of {@code xid} (by branch id) since this replica began driving it,
     * retries included; empty for a transaction it does not drive. In memory: a restart starts again at 0.
     */
    public Map<Long, Integer> attempts(String xid) {
        Map<Long, Integer> sent = attempts.get(xid);
        return sent == null ? Map.of() : Map.copyOf(sent);
    }

    /** Whether a task of this replica drives {@code xid} right now (a vote, or a phase-2 pass). */
    boolean isDriving(String xid) {
        return inFlight.contains(xid);
    }

    /** Whether the recovery loop should drive {@code xid} now (not in flight, backoff elapsed). */
    boolean isDue(String xid) {
        if (inFlight.contains(xid)) {
            return false;
        }
        RetryState r = retries.get(xid);
        return r == null || r.nextAttemptAtMs <= clock.millis();
    }

    /** Rolls back a transaction whose timeout passed while in BEGIN. */
    public void timeOut(GlobalTransaction tx) {
        decide(tx, GlobalStatus.TIMEOUT_ROLLBACKING, "timed out after " + tx.timeoutMs() + " ms in BEGIN",
                ChangeCause.TIMEOUT)
                .whenComplete((decided, error) -> {
                    if (error != null) {
                        log.warn("Could not log the timeout of xid={} ({}); the recovery loop will try again",
                                tx.xid(), error.toString());
                    }
                });
    }

    /**
     * The one place a transaction leaves BEGIN: logs the decision {@code to} (ASYNC_COMMITTING,
     * ROLLBACKING, TIMEOUT_ROLLBACKING, or PRE_COMMITTING, which runs the 3PC vote) and starts phase 2.
     * Completes with the transaction in its decided status, or with null when it had left BEGIN
     * already (the caller answers from its new status).
     *
     * @throws CoordinatorException (ILLEGAL_TRANSITION) for a status BEGIN cannot go to
     */
    CompletableFuture<GlobalTransaction> decide(GlobalTransaction tx, GlobalStatus to, String reason,
                                                ChangeCause cause) {
        String xid = tx.xid();
        GlobalStateMachine.checkMove(xid, GlobalStatus.BEGIN, to);
        if (to == GlobalStatus.PRE_COMMITTING) {
            return vote(tx, reason, cause);
        }
        return moves.leaveBegin(xid, to, reason, cause).thenApply(moved -> {
            if (!moved) {
                return null;
            }
            if (to == GlobalStatus.ASYNC_COMMITTING) {
                // AT branches are committed locally already: the rows are free as soon as the decision is
                // durable. Registrations waiting for them try again once the release is written.
                releaseLocks(xid);
            } else if (to == GlobalStatus.TIMEOUT_ROLLBACKING) {
                metrics.timedOut();
            }
            drive(xid);
            return tx.withStatus(to, reason, clock.millis());
        });
    }

    /**
     * 3PC: moves {@code tx} from BEGIN to PRE_COMMITTING, collects every branch's CanCommit vote and
     * logs the decision: PRE_COMMITTED when all voted yes, else ROLLBACKING. A vote not answered
     * within the vote timeout counts as no.
     *
     * <p>The CanCommits go out while PRE_COMMITTING is being made durable, not after: nothing is
     * promised on it (the TM's answer waits for PRE_COMMITTED, which the log makes durable after it),
     * and a TC that restarts without it finds the transaction in BEGIN, which, like PRE_COMMITTING
     * after a restart, only ever ends in a rollback; a yes vote commits nothing at the RM (it would
     * roll the branch back alone). Votes sent for a transaction whose move lost (a rollback or
     * timeout decided first) are answered and ignored. A branch the store shows only once the move
     * is done (a store that applies it when durable) is voted on then, before the decision.
     */
    private CompletableFuture<GlobalTransaction> vote(GlobalTransaction tx, String reason, ChangeCause cause) {
        String xid = tx.xid();
        if (!inFlight.add(xid)) { // marked before the status moves, so the recovery loop cannot abort the vote
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Boolean> leftBegin;
        List<Branch> branches = new ArrayList<>();
        List<CompletableFuture<BranchChannel.Outcome>> votes = new ArrayList<>();
        try {
            leftBegin = moves.leaveBegin(xid, GlobalStatus.PRE_COMMITTING, reason, cause);
            if (!leftBegin.isDone()) { // a lost move completes at once: no votes for it
                for (Branch b : store.findBranches(xid)) {
                    branches.add(b);
                    votes.add(voteWithTimeout(xid, b));
                }
            }
        } catch (RuntimeException e) {
            leftBegin = CompletableFuture.failedFuture(e);
        }
        return leftBegin.thenCompose(moved -> {
            if (!moved) {
                return CompletableFuture.<GlobalTransaction>completedFuture(null);
            }
            Set<Long> asked = new HashSet<>();
            branches.forEach(b -> asked.add(b.branchId()));
            for (Branch b : store.findBranches(xid)) {
                if (asked.add(b.branchId())) {
                    branches.add(b);
                    votes.add(voteWithTimeout(xid, b));
                }
            }
            return CompletableFuture.allOf(votes.toArray(CompletableFuture[]::new)).thenCompose(v -> {
                String no = null;
                for (int i = 0; i < votes.size() && no == null; i++) {
                    BranchChannel.Outcome o = votes.get(i).join();
                    if (o.status() != BranchStatus.VOTED_YES) {
                        Branch b = branches.get(i);
                        no = "branch " + b.branchId() + " on " + b.resourceId() + " voted no: "
                                + (o.reason().isEmpty() ? o.status().name() : o.reason());
                    }
                }
                GlobalStatus next = no == null ? GlobalStatus.PRE_COMMITTED : GlobalStatus.ROLLBACKING;
                String decision = no == null ? "all " + branches.size() + " branches voted yes" : no;
                return moves.move(xid, GlobalStatus.PRE_COMMITTING, next, decision, ChangeCause.TC)
                        .thenApply(decided -> tx.withStatus(next, decision, clock.millis()));
            });
        }).whenComplete((decided, error) -> {
            inFlight.remove(xid);
            if (decided != null || error != null) {
                drive(xid);
            }
        });
    }

    /**
     * The branch's vote, or a no once the vote timeout passed without an answer. The timeout is set
     * before the command goes out, so it counts from the sending whatever the sender's thread does next.
     */
    private CompletableFuture<BranchChannel.Outcome> voteWithTimeout(String xid, Branch branch) {
        CompletableFuture<BranchChannel.Outcome> vote = new CompletableFuture<>();
        ScheduledFuture<?> timeout = timer.schedule(() -> vote.complete(new BranchChannel.Outcome(BranchStatus.VOTED_NO,
                "no vote within " + voteTimeout, false)), voteTimeout.toMillis(), TimeUnit.MILLISECONDS);
        vote.whenComplete((o, e) -> timeout.cancel(false));
        send(xid, branch, BranchAction.CAN_COMMIT, Urgency.NOW).whenComplete((outcome, error) -> {
            if (error != null) {
                vote.completeExceptionally(error);
            } else {
                vote.complete(outcome);
            }
        });
        return vote;
    }

    /** Retries now with a fresh budget (a person asked). Returns the status it is driven from. */
    GlobalTransaction retryNow(GlobalTransaction tx, String reason) {
        GlobalStatus status = tx.status();
        if (status == GlobalStatus.COMMIT_FAILED || status == GlobalStatus.ROLLBACK_FAILED) {
            GlobalStatus next = GlobalStateMachine.retryingOf(status);
            boolean moved = moves.move(tx.xid(), status, next, reason, ChangeCause.OPERATOR).join();
            if (!moved) {
                throw new CoordinatorException(io.cohort.protocol.v1.ErrorCode.ILLEGAL_TRANSITION,
                        "Global transaction " + tx.xid() + " changed status while the retry was asked; look again");
            }
            tx = tx.withStatus(next, reason, clock.millis());
        } else if (status == GlobalStatus.BEGIN || status.isFinal()) {
            throw new CoordinatorException(io.cohort.protocol.v1.ErrorCode.ILLEGAL_TRANSITION, "Nothing to retry for "
                    + tx.xid() + " in status " + status + ": only transactions in phase 2 or waiting for a person");
        } else {
            // A person asked this replica: it takes the transaction over, whoever held it.
            store.acquireLease(tx.xid(), true).join();
        }
        retries.remove(tx.xid());
        parked.remove(tx.xid());
        drive(tx.xid());
        return tx;
    }

    /** Starts driving {@code xid} from its current stored status, unless it is being driven already. */
    public void drive(String xid) {
        if (!inFlight.add(xid)) {
            return;
        }
        observations.inScope(xid, observations.decision(xid), () -> driveInScope(xid));
    }

    private void driveInScope(String xid) {
        CompletableFuture<Boolean> run;
        try {
            run = driveOnce(xid);
        } catch (RuntimeException e) {
            run = CompletableFuture.failedFuture(e);
        }
        run.whenComplete((again, error) -> {
            inFlight.remove(xid);
            if (error != null) {
                log.warn("Phase 2 of xid={} stopped on an error ({}); the recovery loop will retry", xid, error.toString());
                scheduleRetry(xid);
            } else if (again) {
                drive(xid); // moved to the next 3PC round: go on at once
            }
        });
    }

    /** One pass; completes with true when the transaction moved to a status that needs another pass now. */
    private CompletableFuture<Boolean> driveOnce(String xid) {
        GlobalTransaction tx = store.findGlobal(xid).orElse(null);
        if (tx == null || tx.status() == GlobalStatus.BEGIN || tx.status().isEnded()) {
            retries.remove(xid);
            return CompletableFuture.completedFuture(false);
        }
        List<Branch> branches = store.findBranches(xid);
        GlobalStatus status = tx.status();
        if (status == GlobalStatus.PRE_COMMITTING) {
            // Found waiting for votes without a vote in progress (the TC restarted): abort, as 3PC says.
            return moves.move(xid, status, GlobalStatus.ROLLBACKING,
                    "the TC restarted while collecting votes: aborted", ChangeCause.TC).thenApply(moved -> moved);
        }
        Branch unreachable = branches.stream().filter(b -> !channel.hasResource(b.resourceId())).findFirst()
                .orElse(null);
        if (unreachable != null && store.releaseLease(xid)) {
            retries.remove(xid);
            log.info("xid={} has branch {} on resource {}, which no RM announced to this TC replica: handed over to "
                    + "a replica that has one", xid, unreachable.branchId(), LogText.safe(unreachable.resourceId()));
            return CompletableFuture.completedFuture(false);
        }
        if (status == GlobalStatus.PRE_COMMITTED) {
            return commitRound(tx, branches, BranchAction.PRE_COMMIT, BranchStatus.PRE_COMMITTED);
        }
        if (status.isCommitDecided()) {
            return commitRound(tx, branches, BranchAction.COMMIT, BranchStatus.PHASE2_COMMITTED);
        }
        return rollbackBranches(tx, branches).thenApply(v -> false);
    }

    /**
     * Sends {@code action} to every branch not there yet (REDO to a branch its RM rolled back on its
     * own), then moves on: PRE_COMMITTED → COMMITTING, or the commit statuses → COMMITTED.
     */
    private CompletableFuture<Boolean> commitRound(GlobalTransaction tx, List<Branch> branches, BranchAction action,
                                                   BranchStatus reached) {
        List<Branch> sentTo = new ArrayList<>();
        List<CompletableFuture<BranchChannel.Outcome>> sent = new ArrayList<>();
        Urgency urgency = action == BranchAction.COMMIT && tx.protocol() == TransactionProtocol.TWO_PHASE
                ? Urgency.MAY_WAIT : Urgency.NOW;
        for (Branch b : branches) {
            if (b.status() == reached || b.status() == BranchStatus.PHASE2_COMMITTED || b.status() == BranchStatus.PHASE1_FAILED) {
                continue;
            }
            boolean rolledBackByRm = b.status() == BranchStatus.PHASE2_ROLLBACKED;
            sentTo.add(b);
            sent.add(rolledBackByRm ? send(tx.xid(), b, BranchAction.REDO, Urgency.NOW) : send(tx.xid(), b, action, urgency));
        }
        return CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new)).thenCompose(v -> {
            List<CompletableFuture<?>> records = new ArrayList<>();
            List<Branch> done = new ArrayList<>();
            String failure = null;
            boolean unretryable = false;
            boolean splitFound = false;
            for (int i = 0; i < sent.size(); i++) {
                BranchChannel.Outcome o = sent.get(i).join();
                Branch b = sentTo.get(i);
                if (o.status() == reached || o.status() == BranchStatus.PHASE2_COMMITTED) {
                    if (b.status() == BranchStatus.PHASE2_ROLLBACKED) {
                        records.add(store.updateBranch(tx.xid(), b.branchId(), BranchStatus.PHASE2_COMMITTED,
                                b.reason() + "; redone by the TC from the after image"));
                    } else {
                        done.add(b);
                    }
                    continue;
                }
                if (o.status() == BranchStatus.PHASE2_ROLLBACKED && o.decidedByRm()) {
                    // The RM gave up waiting and rolled back on its own: a split the locks let us repair.
                    String evidence = "branch " + b.branchId() + " on " + b.resourceId()
                            + " was rolled back by its RM on its own (" + o.reason() + ") while the decision was commit";
                    log.error("Heuristic outcome in xid={}: {}; redoing it", tx.xid(), LogText.safe(evidence, 4096));
                    metrics.heuristic();
                    records.add(store.updateBranch(tx.xid(), b.branchId(), BranchStatus.PHASE2_ROLLBACKED, evidence));
                    records.add(store.markHeuristic(tx.xid(), evidence));
                    splitFound = true;
                    continue;
                }
                failure = "branch " + b.branchId() + " on " + b.resourceId() + ": " + o.reason();
                unretryable |= o.status().isUnretryableFailure();
            }
            if (failure != null || splitFound) {
                // Another pass will come: remember who is done so it is not asked again.
                for (Branch b : done) {
                    records.add(store.updateBranch(tx.xid(), b.branchId(), reached, ""));
                }
            }
            final String why = failure;
            final boolean giveUp = unretryable;
            final boolean again = splitFound;
            return CompletableFuture.allOf(records.toArray(CompletableFuture[]::new)).thenCompose(x -> {
                if (why != null) {
                    return (giveUp ? giveUp(tx, why) : retryLater(tx, why)).thenApply(y -> false);
                }
                if (again) {
                    return CompletableFuture.completedFuture(true); // redo the split branches next pass
                }
                if (tx.status() == GlobalStatus.PRE_COMMITTED) {
                    return moves.move(tx.xid(), tx.status(), GlobalStatus.COMMITTING,
                            "every branch acknowledged PreCommit", ChangeCause.TC).thenApply(moved -> moved);
                }
                // 3PC holds the locks to the end. 2PC released them at the decision, but as a second
                // write: a TC killed between the two restarts with the locks still held, so release
                // (again) here — a no-op when there is nothing left.
                return releaseLocks(tx.xid())
                        .thenCompose(y -> finish(tx, GlobalStateMachine.doneOf(tx.status()), "all branches committed"))
                        .thenApply(y -> false);
            });
        });
    }

    private CompletableFuture<Void> rollbackBranches(GlobalTransaction tx, List<Branch> branches) {
        // Its undo needs the rows that registrations waiting for its locks hold in their local transactions.
        lockWaits.rollingBack(tx.xid());
        CompletableFuture<String> chain = CompletableFuture.completedFuture(null);
        for (int i = branches.size() - 1; i >= 0; i--) {
            Branch b = branches.get(i);
            if (b.status() == BranchStatus.PHASE2_ROLLBACKED || b.status() == BranchStatus.PHASE1_FAILED) {
                continue;
            }
            chain = chain.thenCompose(failed -> failed != null ? CompletableFuture.completedFuture(failed)
                    : send(tx.xid(), b, BranchAction.ROLLBACK, Urgency.NOW).thenCompose(o -> {
                        if (o.status() == BranchStatus.PHASE2_ROLLBACKED) {
                            return store.updateBranch(tx.xid(), b.branchId(), o.status(), o.reason()).thenApply(x -> null);
                        }
                        String why = "branch " + b.branchId() + " on " + b.resourceId() + ": " + o.reason();
                        if (o.status().isUnretryableFailure()) {
                            return store.updateBranch(tx.xid(), b.branchId(), o.status(), o.reason())
                                    .thenApply(x -> "!" + why);
                        }
                        return CompletableFuture.completedFuture(why);
                    }));
        }
        return chain.thenCompose(failed -> {
            if (failed == null) {
                return releaseLocks(tx.xid())
                        .thenCompose(v -> finish(tx, GlobalStateMachine.doneOf(tx.status()), "all branches rolled back"));
            }
            if (failed.startsWith("!")) {
                return giveUp(tx, failed.substring(1));
            }
            return retryLater(tx, failed);
        });
    }

    /**
     * Releases {@code xid}'s row locks and hands them to the registrations waiting for them: on a store
     * that makes writes durable in the order they apply, at once (a waiter's registration is logged
     * after the release, so it cannot be answered before the release is durable, and both share one
     * fsync); on another, once the release is durable.
     */
    private CompletableFuture<Void> releaseLocks(String xid) {
        CompletableFuture<Void> durable = store.releaseLocks(xid);
        if (store.durableInApplyOrder() && !durable.isCompletedExceptionally()) {
            lockWaits.released(xid);
            return durable;
        }
        return durable.thenRun(() -> lockWaits.released(xid));
    }

    private CompletableFuture<BranchChannel.Outcome> send(String xid, Branch b, BranchAction action, Urgency urgency) {
        long start = System.nanoTime();
        attempts.computeIfAbsent(xid, k -> new ConcurrentHashMap<>()).merge(b.branchId(), 1, Integer::sum);
        TcObservations.Command traced = observations.command(xid, b.branchId(), b.resourceId(), action.name());
        return channel.send(xid, b, action, traced.traceContext(), urgency).whenComplete((o, e) -> {
            metrics.branchPhase2(action, System.nanoTime() - start);
            traced.answered(o == null ? null : o.status().name(), e);
        });
    }

    private CompletableFuture<Void> finish(GlobalTransaction tx, GlobalStatus done, String reason) {
        GlobalTransaction current = store.findGlobal(tx.xid()).orElse(tx);
        // Keep why it was decided (a no vote, a timeout, the TM's request) next to how it ended.
        boolean firstPass = tx.status() != GlobalStateMachine.retryingOf(tx.status()) && !tx.reason().isEmpty();
        String fullReason = (firstPass ? tx.reason() + "; " : "") + reason
                + (current.heuristic() ? " (heuristic outcome repaired by the TC)" : "");
        return moves.move(tx.xid(), tx.status(), done, fullReason, ChangeCause.TC).thenCompose(moved -> {
            retries.remove(tx.xid());
            attempts.remove(tx.xid());
            parked.remove(tx.xid());
            observations.ended(tx.xid());
            if (!moved) {
                return CompletableFuture.completedFuture(null); // someone else finished or changed it
            }
            metrics.ended(done);
            // A heuristic transaction keeps its branches as evidence until the retention purge.
            return current.heuristic() ? CompletableFuture.completedFuture(null) : store.deleteBranches(tx.xid());
        });
    }

    /** A branch failed in a way retrying cannot fix: park the transaction for a person, with the reason. */
    private CompletableFuture<Void> giveUp(GlobalTransaction tx, String reason) {
        GlobalStatus failed = GlobalStateMachine.failedOf(tx.status());
        log.error("Global transaction xid={} needs a person: {} -> {} because {}", tx.xid(), tx.status(), failed,
                LogText.safe(reason, 4096));
        return moves.move(tx.xid(), tx.status(), failed, reason, ChangeCause.TC).thenAccept(moved -> {
            retries.remove(tx.xid());
            observations.ended(tx.xid());
            if (moved) {
                parked.add(tx.xid());
                metrics.ended(failed);
            }
        });
    }

    private CompletableFuture<Void> retryLater(GlobalTransaction tx, String reason) {
        RetryState r = scheduleRetry(tx.xid());
        if (r.attempts >= maxAttempts) {
            return giveUp(tx, "gave up after " + r.attempts + " attempts; last failure: " + reason);
        }
        metrics.retried();
        GlobalStatus retrying = GlobalStateMachine.retryingOf(tx.status());
        if (r.attempts == 1 || r.attempts % 10 == 0) {
            log.warn("Phase 2 of xid={} will be retried (attempt {} of {}): {}", tx.xid(), r.attempts, maxAttempts,
                    LogText.safe(reason, 4096));
        }
        if (retrying == tx.status()) {
            return CompletableFuture.completedFuture(null);
        }
        return moves.move(tx.xid(), tx.status(), retrying, reason, ChangeCause.TC).thenAccept(moved -> {
        });
    }

    private RetryState scheduleRetry(String xid) {
        return retries.compute(xid, (k, old) -> {
            int attempts = old == null ? 1 : old.attempts + 1;
            long backoff = Math.min(maxBackoff.toMillis(), initialBackoff.toMillis() << Math.min(20, attempts - 1));
            return new RetryState(attempts, clock.millis() + backoff);
        });
    }
}
