package io.cohort.tc.coordinator;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.store.TransactionStore;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives decided global transactions to their end: sends every branch its phase-2 command,
 * records what comes back, and moves the transaction to its final status, to a retrying status
 * (tried again by the {@link RecoveryLoop} after a backoff), or — when the retry budget is spent
 * or a branch cannot be finished safely — to COMMIT_FAILED / ROLLBACK_FAILED for a person.
 *
 * <p>Commit (AT): every branch at once; the data is committed already, phase 2 only deletes undo
 * logs. Rollback: one branch at a time in reverse registration order, so later changes are undone
 * before earlier ones; global locks are released only after the last branch is undone, and are
 * kept when a rollback fails, so nobody builds on data that still has to be restored.
 *
 * <p>One transaction is driven by at most one task at a time in this process ({@code inFlight}).
 */
public final class Phase2Driver {

    private static final Logger log = LoggerFactory.getLogger(Phase2Driver.class);

    private final TransactionStore store;
    private final BranchDispatcher dispatcher;
    private final TcMetrics metrics;
    private final Clock clock;
    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final int maxAttempts;
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();
    private final Map<String, RetryState> retries = new ConcurrentHashMap<>();

    private record RetryState(int attempts, long nextAttemptAtMs) {
    }

    public Phase2Driver(TransactionStore store, BranchDispatcher dispatcher, TcMetrics metrics, Clock clock,
                        Duration initialBackoff, Duration maxBackoff, int maxAttempts) {
        this.store = store;
        this.dispatcher = dispatcher;
        this.metrics = metrics;
        this.clock = clock;
        this.initialBackoff = initialBackoff;
        this.maxBackoff = maxBackoff;
        this.maxAttempts = maxAttempts;
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
        String reason = "timed out after " + tx.timeoutMs() + " ms in BEGIN";
        store.transitionGlobal(tx.xid(), GlobalStatus.BEGIN, GlobalStatus.TIMEOUT_ROLLBACKING, reason)
                .whenComplete((moved, error) -> {
                    if (error != null) {
                        log.warn("Could not log the timeout of xid={} ({}); the recovery loop will try again",
                                tx.xid(), error.toString());
                    } else if (moved) {
                        metrics.timedOut();
                        drive(tx.xid());
                    }
                });
    }

    /** Retries now with a fresh budget (a person asked). Returns the status it is driven from. */
    GlobalTransaction retryNow(GlobalTransaction tx) {
        GlobalStatus status = tx.status();
        if (status == GlobalStatus.COMMIT_FAILED || status == GlobalStatus.ROLLBACK_FAILED) {
            GlobalStatus next = GlobalStateMachine.retryingOf(status);
            GlobalStateMachine.checkMove(tx.xid(), status, next);
            boolean moved = store.transitionGlobal(tx.xid(), status, next, "retry requested through the API").join();
            if (!moved) {
                throw new CoordinatorException(io.cohort.protocol.v1.ErrorCode.ILLEGAL_TRANSITION,
                        "Global transaction " + tx.xid() + " changed status while the retry was asked; look again");
            }
            tx = tx.withStatus(next, "retry requested through the API", clock.millis());
        } else if (status == GlobalStatus.BEGIN || status.isFinal()) {
            throw new CoordinatorException(io.cohort.protocol.v1.ErrorCode.ILLEGAL_TRANSITION, "Nothing to retry for "
                    + tx.xid() + " in status " + status + ": only transactions in phase 2 or waiting for a person");
        }
        retries.remove(tx.xid());
        drive(tx.xid());
        return tx;
    }

    /** Starts driving {@code xid} from its current stored status, unless it is being driven already. */
    public void drive(String xid) {
        if (!inFlight.add(xid)) {
            return;
        }
        CompletableFuture<Void> run;
        try {
            run = driveOnce(xid);
        } catch (RuntimeException e) {
            run = CompletableFuture.failedFuture(e);
        }
        run.whenComplete((v, error) -> {
            inFlight.remove(xid);
            if (error != null) {
                log.warn("Phase 2 of xid={} stopped on an error ({}); the recovery loop will retry", xid, error.toString());
                scheduleRetry(xid);
            }
        });
    }

    private CompletableFuture<Void> driveOnce(String xid) {
        GlobalTransaction tx = store.findGlobal(xid).orElse(null);
        if (tx == null || tx.status() == GlobalStatus.BEGIN || tx.status().isEnded()) {
            retries.remove(xid);
            return CompletableFuture.completedFuture(null);
        }
        List<Branch> branches = store.findBranches(xid);
        return tx.status().isCommitDecided() ? commitBranches(tx, branches) : rollbackBranches(tx, branches);
    }

    private CompletableFuture<Void> commitBranches(GlobalTransaction tx, List<Branch> branches) {
        List<CompletableFuture<BranchDispatcher.Outcome>> sent = new ArrayList<>();
        for (Branch b : branches) {
            if (b.status() != BranchStatus.PHASE2_COMMITTED && b.status() != BranchStatus.PHASE1_FAILED) {
                sent.add(send(tx.xid(), b, BranchAction.COMMIT));
            }
        }
        return CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new)).thenCompose(v -> {
            String failure = null;
            boolean unretryable = false;
            for (int i = 0; i < sent.size(); i++) {
                BranchDispatcher.Outcome o = sent.get(i).join();
                if (o.status() != BranchStatus.PHASE2_COMMITTED) {
                    failure = o.reason();
                    unretryable |= o.status().isUnretryableFailure();
                }
            }
            if (failure == null) {
                return finish(tx, GlobalStateMachine.doneOf(tx.status()), "all branches committed");
            }
            return unretryable ? giveUp(tx, failure) : retryLater(tx, failure);
        });
    }

    private CompletableFuture<Void> rollbackBranches(GlobalTransaction tx, List<Branch> branches) {
        CompletableFuture<String> chain = CompletableFuture.completedFuture(null);
        for (int i = branches.size() - 1; i >= 0; i--) {
            Branch b = branches.get(i);
            if (b.status() == BranchStatus.PHASE2_ROLLBACKED || b.status() == BranchStatus.PHASE1_FAILED) {
                continue;
            }
            chain = chain.thenCompose(failed -> failed != null ? CompletableFuture.completedFuture(failed)
                    : send(tx.xid(), b, BranchAction.ROLLBACK).thenCompose(o -> {
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
                return store.releaseLocks(tx.xid())
                        .thenCompose(v -> finish(tx, GlobalStateMachine.doneOf(tx.status()), "all branches rolled back"));
            }
            if (failed.startsWith("!")) {
                return giveUp(tx, failed.substring(1));
            }
            return retryLater(tx, failed);
        });
    }

    private CompletableFuture<BranchDispatcher.Outcome> send(String xid, Branch b, BranchAction action) {
        long start = System.nanoTime();
        return dispatcher.send(xid, b, action).whenComplete((o, e) ->
                metrics.branchPhase2(action == BranchAction.COMMIT, System.nanoTime() - start));
    }

    private CompletableFuture<Void> finish(GlobalTransaction tx, GlobalStatus done, String reason) {
        return store.transitionGlobal(tx.xid(), tx.status(), done, reason).thenCompose(moved -> {
            retries.remove(tx.xid());
            if (!moved) {
                return CompletableFuture.completedFuture(null); // someone else finished or changed it
            }
            metrics.ended(done);
            return store.deleteBranches(tx.xid());
        });
    }

    /** A branch failed in a way retrying cannot fix: park the transaction for a person, with the reason. */
    private CompletableFuture<Void> giveUp(GlobalTransaction tx, String reason) {
        GlobalStatus failed = GlobalStateMachine.failedOf(tx.status());
        log.error("Global transaction xid={} needs a person: {} -> {} because {}", tx.xid(), tx.status(), failed, reason);
        return store.transitionGlobal(tx.xid(), tx.status(), failed, reason).thenAccept(moved -> {
            retries.remove(tx.xid());
            if (moved) {
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
            log.warn("Phase 2 of xid={} will be retried (attempt {} of {}): {}", tx.xid(), r.attempts, maxAttempts, reason);
        }
        if (retrying == tx.status()) {
            return CompletableFuture.completedFuture(null);
        }
        return store.transitionGlobal(tx.xid(), tx.status(), retrying, reason).thenAccept(moved -> {
        });
    }

    private RetryState scheduleRetry(String xid) {
        return retries.compute(xid, (k, old) -> {
            int attempts = old == null ? 1 : old.attempts + 1;
            long backoff = Math.min(maxBackoff.toMillis(), initialBackoff.toMillis() << Math.min(20, attempts - 1));
            return new RetryState(attempts, clock.millis() + backoff);
        });
    }

    int inFlightCount() {
        return inFlight.size();
    }
}
