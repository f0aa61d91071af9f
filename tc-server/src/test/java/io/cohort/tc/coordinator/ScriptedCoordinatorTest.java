package io.cohort.tc.coordinator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.ManualClock;
import io.cohort.tc.coordinator.BranchChannel.Outcome;
import io.cohort.tc.coordinator.ScriptedChannel.Command;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.TransactionStore;
import io.cohort.tc.store.embedded.EmbeddedStoreConfig;
import io.cohort.tc.store.embedded.EmbeddedTransactionStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The coordinator as a machine: {@link Coordinator}, {@link Phase2Driver}, {@link RecoveryLoop} and
 * {@link LockWaits} on the real embedded store, the RMs played by a {@link ScriptedChannel}, time by a
 * {@link ManualClock} that moves only when a test calls {@link ManualScheduler#advance}. Backoffs,
 * timeouts and lock waits are asserted to the millisecond, with no sleep and no real time.
 *
 * <p>The one real wait: the store makes writes durable on its own thread, and what follows a write
 * (the next command, the next status) runs there. Tests wait for that hand-off with {@link #await},
 * whose deadline only bounds a failure; nothing the coordinator decides depends on it.
 */
class ScriptedCoordinatorTest {

    private static final String R1 = "jdbc:postgresql://db1/bank_a";
    private static final String R2 = "jdbc:postgresql://db2/bank_b";
    private static final String TC = ScriptedTc.TC;
    private static final Duration RECOVERY_INTERVAL = ScriptedTc.RECOVERY_INTERVAL;
    private static final Duration INITIAL_BACKOFF = ScriptedTc.INITIAL_BACKOFF;
    private static final Duration MAX_BACKOFF = ScriptedTc.MAX_BACKOFF;
    private static final int MAX_ATTEMPTS = ScriptedTc.MAX_ATTEMPTS;
    private static final Duration VOTE_TIMEOUT = ScriptedTc.VOTE_TIMEOUT;
    private static final Duration TX_TIMEOUT = ScriptedTc.TX_TIMEOUT;
    private static final Duration HANDOFF = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private final ManualClock clock = new ManualClock(Instant.parse("2026-01-01T00:00:00Z"));
    private final ManualScheduler time = new ManualScheduler(clock);
    private final ScriptedChannel rms = new ScriptedChannel(R1, R2);
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private EmbeddedTransactionStore store;
    private Phase2Driver driver;
    private Coordinator coordinator;
    private RecoveryLoop recovery;

    /** Completes after the store made PRE_COMMITTING durable: a test that holds it sees what happens before. */
    private volatile CompletableFuture<Void> preCommittingDurable = CompletableFuture.completedFuture(null);

    /** Completes after the store made a lock release durable: a test that holds it sees what happens before. */
    private volatile CompletableFuture<Void> releaseDurable = CompletableFuture.completedFuture(null);

    /**
     * The real store, except that a move to PRE_COMMITTING completes (says it is durable) only once
     * the store made it durable and {@link #preCommittingDurable} completed, and a lock release once
     * {@link #releaseDurable} completed: a slow fsync, held.
     */
    @SuppressWarnings("unchecked")
    private TransactionStore gated(TransactionStore real) {
        return (TransactionStore) Proxy.newProxyInstance(TransactionStore.class.getClassLoader(),
                new Class<?>[] {TransactionStore.class}, (proxy, method, args) -> {
                    Object result;
                    try {
                        result = method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                    if (method.getName().equals("transitionGlobal") && args[2] == GlobalStatus.PRE_COMMITTING) {
                        CompletableFuture<Void> gate = preCommittingDurable;
                        return ((CompletableFuture<Boolean>) result).thenCombine(gate, (moved, durable) -> moved);
                    }
                    if (method.getName().equals("releaseLocks")) {
                        CompletableFuture<Void> gate = releaseDurable;
                        return ((CompletableFuture<Void>) result).thenCombine(gate, (done, durable) -> done);
                    }
                    return result;
                });
    }

    @BeforeEach
    void start() {
        store = new EmbeddedTransactionStore(new EmbeddedStoreConfig(dir, 1L << 30, false, Duration.ZERO, 4096), clock,
                registry);
        ScriptedTc tc = ScriptedTc.wire(gated(store), rms, registry, clock, time, new Coordinator.Limits(1000, 1000));
        driver = tc.driver();
        coordinator = tc.coordinator();
        recovery = tc.recovery();
    }

    @AfterEach
    void stop() {
        recovery.close();
        store.close();
    }

    // ---- two-phase commit ----

    @Test
    void commitSendsEveryBranchItsCommitAtOnceAndFreesTheRowsAtTheDecision() {
        String xid = begin(TransactionProtocol.TWO_PHASE);
        long b1 = register(xid, R1, "account:1");
        long b2 = register(xid, R2, "account:2");

        assertThat(coordinator.commit(xid).join().status()).isEqualTo(GlobalStatus.ASYNC_COMMITTING);
        List<Command> sent = List.of(rms.next(), rms.next());
        assertThat(sent).extracting(Command::branchId).containsExactlyInAnyOrder(b1, b2);
        assertThat(sent).extracting(Command::action).containsOnly(BranchAction.COMMIT);
        // The commits only let the RMs delete undo logs: they may wait to share a message with others.
        assertThat(sent).extracting(Command::urgency).containsOnly(BranchChannel.Urgency.MAY_WAIT);
        // AT data is committed locally already: the rows are free before phase 2 ends.
        await(() -> coordinator.queryLocks(R1, List.of("account:1"), "").isEmpty(), () -> "the rows released");
        assertThat(status(xid)).isEqualTo(GlobalStatus.ASYNC_COMMITTING);

        sent.forEach(Command::succeed);
        awaitSettled(xid, GlobalStatus.COMMITTED);
        assertThat(store.findBranches(xid)).isEmpty();
        assertThat(counter("committed")).isEqualTo(1);
    }

    @Test
    void rollbackUndoesOneBranchAtATimeInReverseOrderAndFreesTheRowsAfterTheLast() {
        String xid = begin(TransactionProtocol.TWO_PHASE);
        long b1 = register(xid, R1, "account:1");
        long b2 = register(xid, R2, "account:2");
        long b3 = register(xid, R1, "account:3");

        assertThat(coordinator.rollback(xid).join().status()).isEqualTo(GlobalStatus.ROLLBACKING);
        for (long expected : List.of(b3, b2, b1)) {
            Command c = rms.next();
            assertThat(c.branchId()).isEqualTo(expected);
            assertThat(c.action()).isEqualTo(BranchAction.ROLLBACK);
            assertThat(c.urgency()).isEqualTo(BranchChannel.Urgency.NOW);
            assertThat(rms.waiting()).as("the next branch waits for this one's undo").isEmpty();
            assertThat(coordinator.queryLocks(R1, List.of("account:1"), "")).as("rows held while undoing").isPresent();
            c.succeed();
        }
        awaitSettled(xid, GlobalStatus.ROLLBACKED);
        assertThat(coordinator.queryLocks(R1, List.of("account:1", "account:3"), "")).isEmpty();
    }

    /** Ids chosen by RMs are random: rollback still goes backward through registration order, not id order. */
    @Test
    void rollbackWithIdsChosenByRmsGoesBackwardThroughRegistrationOrder() {
        String xid = begin(TransactionProtocol.TWO_PHASE);
        List<Long> chosen = List.of(900L, 5L, 70L);
        for (int i = 0; i < chosen.size(); i++) {
            RegisterResult r = coordinator.registerBranch(xid, i % 2 == 0 ? R1 : R2, List.of("account:" + i),
                    new byte[0], "rm-1", 0, chosen.get(i)).join().result();
            assertThat(r).isEqualTo(new RegisterResult.Registered(chosen.get(i)));
        }
        // An id the XID has is refused, clearly, and stores nothing; a negative one never reaches the store.
        assertThat(errorOf(() -> coordinator.registerBranch(xid, R1, List.of("account:9"), new byte[0], "rm-1", 0, 5)
                .join())).isEqualTo(ErrorCode.INVALID_REQUEST);
        assertThat(errorOf(() -> coordinator.registerBranch(xid, R1, List.of("account:9"), new byte[0], "rm-1", 0, -1)
                .join())).isEqualTo(ErrorCode.INVALID_REQUEST);
        assertThat(coordinator.queryLocks(R1, List.of("account:9"), "")).isEmpty();
        // An RM that chooses none (older than minor 7) gets one from the TC.
        long assigned = register(xid, R1, "account:3");
        assertThat(assigned).isPositive().isNotIn(chosen);

        assertThat(coordinator.rollback(xid).join().status()).isEqualTo(GlobalStatus.ROLLBACKING);
        for (long expected : List.of(assigned, 70L, 5L, 900L)) {
            Command c = rms.next();
            assertThat(c.branchId()).isEqualTo(expected);
            assertThat(c.action()).isEqualTo(BranchAction.ROLLBACK);
            c.succeed();
        }
        awaitSettled(xid, GlobalStatus.ROLLBACKED);
    }

    @Test
    void repeatedRequestsAnswerTheSameAndContradictionsAreRefused() {
        rms.succeedAlways();
        String committed = begin(TransactionProtocol.TWO_PHASE);
        register(committed, R1, "account:1");
        coordinator.commit(committed).join();
        assertThat(coordinator.commit(committed).join().status()).isIn(GlobalStatus.ASYNC_COMMITTING,
                GlobalStatus.COMMITTED);
        assertThat(errorOf(() -> coordinator.rollback(committed))).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);

        String rolledBack = begin(TransactionProtocol.TWO_PHASE);
        register(rolledBack, R1, "account:2");
        coordinator.rollback(rolledBack).join();
        assertThat(coordinator.rollback(rolledBack).join().status()).isIn(GlobalStatus.ROLLBACKING,
                GlobalStatus.ROLLBACKED);
        assertThat(errorOf(() -> coordinator.commit(rolledBack))).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
        assertThat(errorOf(() -> coordinator.registerBranch(rolledBack, R1, List.of("account:9"), new byte[0], "rm-1")
                .join())).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);

        awaitSettled(committed, GlobalStatus.COMMITTED);
        awaitSettled(rolledBack, GlobalStatus.ROLLBACKED);
        assertThat(rms.sentFor(committed)).as("one command although the TM asked twice").hasSize(1);
        assertThat(rms.sentFor(rolledBack)).hasSize(1);
    }

    @Test
    void aBranchFailingInPhaseOneRollsItsTransactionBackWithTheReason() {
        rms.succeedAlways();
        String xid = begin(TransactionProtocol.TWO_PHASE);
        long b1 = register(xid, R1, "account:1");
        long b2 = register(xid, R2, "account:2");

        coordinator.reportBranch(xid, b2, BranchStatus.PHASE1_FAILED, "local commit failed", false).join();

        awaitSettled(xid, GlobalStatus.ROLLBACKED);
        assertThat(store.findGlobal(xid).orElseThrow().reason()).contains("rollback-only: branch " + b2)
                .contains("local commit failed");
        assertThat(errorOf(() -> coordinator.commit(xid))).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
        assertThat(rms.actionsFor(xid, b1)).containsExactly(BranchAction.ROLLBACK);
        assertThat(rms.actionsFor(xid, b2)).as("its local transaction did not commit: nothing to undo").isEmpty();

        String marked = begin(TransactionProtocol.TWO_PHASE);
        GlobalTransaction answer = coordinator.markRollbackOnly(marked, R2, "lock conflict on account:2\nheld by x")
                .join();
        assertThat(answer.reason()).isEqualTo("rollback-only: a branch on resource " + R2
                + " failed in phase 1: lock conflict on account:2 held by x");
        assertThat(coordinator.markRollbackOnly(marked, R2, "again").join().reason()).contains("lock conflict");
    }

    @Test
    void aLockConflictNamesItsHolderUntilTheHolderCommits() {
        rms.succeedAlways();
        String first = begin(TransactionProtocol.TWO_PHASE);
        register(first, R1, "account:1,2");
        String second = begin(TransactionProtocol.TWO_PHASE);

        RegisterResult conflict = coordinator.registerBranch(second, R1, List.of("account:2"), new byte[0], "rm-1")
                .join().result();
        assertThat(conflict).isInstanceOfSatisfying(RegisterResult.Conflict.class, c -> {
            assertThat(c.heldBy().xid()).isEqualTo(first);
            assertThat(c.heldBy().row().lockKey()).isEqualTo("account:2");
        });
        register(second, R2, "account:2"); // the same key on another resource is another row
        register(first, R1, "account:2"); // re-entrant for the holder

        coordinator.commit(first).join();
        register(second, R1, "account:2");
    }

    // ---- retries, backoff, people ----

    @Test
    void aFailedCommitIsRetriedAfterABackoffThatDoublesUpToItsCap() {
        String xid = begin(TransactionProtocol.TWO_PHASE);
        register(xid, R1, "account:1");
        coordinator.commit(xid).join();
        rms.next().answer(BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE);
        awaitSettled(xid, GlobalStatus.COMMIT_RETRYING);

        for (long backoffMs : List.of(100L, 200L, 400L, 800L)) {
            time.advance(Duration.ofMillis(backoffMs - 1));
            assertThat(rms.waiting()).as("no retry before its backoff of %d ms", backoffMs).isEmpty();
            time.advance(Duration.ofMillis(1));
            Command retry = rms.next();
            assertThat(retry.action()).isEqualTo(BranchAction.COMMIT);
            retry.answer(BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE);
            awaitSettled(xid, GlobalStatus.COMMIT_RETRYING);
        }
        time.advance(MAX_BACKOFF.minusMillis(1));
        assertThat(rms.waiting()).as("the backoff stays at its cap").isEmpty();
        time.advance(Duration.ofMillis(1));
        rms.next().succeed();
        awaitSettled(xid, GlobalStatus.COMMITTED);
        assertThat(rms.sentFor(xid)).hasSize(6);
        assertThat(counter("committed")).isEqualTo(1);
    }

    @Test
    void retriesStopAtTheBudgetAndAPersonsRetryFinishesTheTransaction() {
        String xid = begin(TransactionProtocol.TWO_PHASE);
        register(xid, R1, "account:1");
        coordinator.commit(xid).join();

        for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
            rms.next().answer(new Outcome(BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE, "RM down", false));
            if (attempt < MAX_ATTEMPTS) {
                awaitSettled(xid, GlobalStatus.COMMIT_RETRYING);
                time.advance(MAX_BACKOFF);
            }
        }
        awaitSettled(xid, GlobalStatus.COMMIT_FAILED);
        assertThat(rms.sentFor(xid)).hasSize(MAX_ATTEMPTS);
        assertThat(store.findGlobal(xid).orElseThrow().reason()).contains("gave up after " + MAX_ATTEMPTS + " attempts")
                .contains("RM down");
        time.advance(Duration.ofMinutes(10));
        assertThat(rms.sentFor(xid)).as("parked for a person: nothing more is sent").hasSize(MAX_ATTEMPTS);
        assertThat(coordinator.branchAttempts(xid)).containsValue(MAX_ATTEMPTS);

        rms.succeedAlways();
        assertThat(coordinator.retry(xid, "admin").status()).isEqualTo(GlobalStatus.COMMIT_RETRYING);
        awaitSettled(xid, GlobalStatus.COMMITTED);
    }

    @Test
    void aDirtyRollbackWaitsForAPersonWithItsRowsHeld() {
        rms.script = c -> new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_DIRTY, "row changed since", false);
        String xid = begin(TransactionProtocol.TWO_PHASE);
        register(xid, R1, "account:5");
        coordinator.rollback(xid).join();

        awaitSettled(xid, GlobalStatus.ROLLBACK_FAILED);
        assertThat(rms.sentFor(xid)).as("not retried: retrying cannot fix it").hasSize(1);
        assertThat(coordinator.queryLocks(R1, List.of("account:5"), "")).map(l -> l.xid()).contains(xid);
        assertThat(store.findBranches(xid)).extracting(b -> b.status())
                .containsExactly(BranchStatus.PHASE2_ROLLBACK_FAILED_DIRTY);

        rms.succeedAlways(); // a person repaired the row
        assertThat(coordinator.forceRollback(xid, "admin").join().status()).isEqualTo(GlobalStatus.ROLLBACK_RETRYING);
        awaitSettled(xid, GlobalStatus.ROLLBACKED);
        assertThat(coordinator.queryLocks(R1, List.of("account:5"), "")).isEmpty();
    }

    // ---- the global timeout ----

    @Test
    void aTransactionStillInBeginPastItsTimeoutIsRolledBackByTheRecoveryLoop() {
        String xid = coordinator.begin("slow", "app", 5000, TransactionProtocol.TWO_PHASE).join().xid();
        register(xid, R1, "account:7");

        time.advance(Duration.ofMillis(5000));
        assertThat(status(xid)).as("at its deadline, not past it").isEqualTo(GlobalStatus.BEGIN);
        time.advance(RECOVERY_INTERVAL);
        Command rollback = rms.next();
        assertThat(rollback.action()).isEqualTo(BranchAction.ROLLBACK);
        assertThat(status(xid)).isEqualTo(GlobalStatus.TIMEOUT_ROLLBACKING);
        assertThat(errorOf(() -> coordinator.commit(xid))).isEqualTo(ErrorCode.GLOBAL_TIMED_OUT);

        rollback.succeed();
        awaitSettled(xid, GlobalStatus.TIMEOUT_ROLLBACKED);
        assertThat(store.findGlobal(xid).orElseThrow().reason()).contains("timed out after 5000 ms in BEGIN");
        assertThat(coordinator.queryLocks(R1, List.of("account:7"), "")).isEmpty();
        assertThat(counter("timed_out")).isEqualTo(1);
    }

    @Test
    void aCommitOrARegistrationPastTheTimeoutIsRefusedAndStartsTheRollback() {
        rms.succeedAlways();
        String late = coordinator.begin("late", "app", 1000, TransactionProtocol.TWO_PHASE).join().xid();
        String joining = coordinator.begin("joining", "app", 1000, TransactionProtocol.TWO_PHASE).join().xid();
        clock.advance(Duration.ofMillis(1001)); // no recovery pass: the request finds it out itself

        CoordinatorException refused = catchThrowableOfType(CoordinatorException.class, () -> coordinator.commit(late));
        assertThat(refused.errorCode()).isEqualTo(ErrorCode.GLOBAL_TIMED_OUT);
        assertThat(refused).hasMessageContaining("timed out after 1000 ms before commit was asked");
        assertThat(errorOf(() -> coordinator.registerBranch(joining, R1, List.of("account:1"), new byte[0], "rm-1")))
                .isEqualTo(ErrorCode.GLOBAL_TIMED_OUT);
        awaitSettled(late, GlobalStatus.TIMEOUT_ROLLBACKED);
        awaitSettled(joining, GlobalStatus.TIMEOUT_ROLLBACKED);
    }

    // ---- three-phase commit ----

    @Test
    void threePhaseCommitVotesThenPreCommitsThenCommitsHoldingTheRowsToTheEnd() {
        String xid = begin(TransactionProtocol.THREE_PHASE);
        long b1 = register(xid, R1, "account:1");
        long b2 = register(xid, R2, "account:2");

        CompletableFuture<GlobalTransaction> commit = coordinator.commit(xid);
        List<Command> votes = List.of(rms.next(), rms.next());
        assertThat(votes).extracting(Command::action).containsOnly(BranchAction.CAN_COMMIT);
        assertThat(votes).extracting(Command::urgency).containsOnly(BranchChannel.Urgency.NOW);
        assertThat(commit).as("answered once every vote is in").isNotDone();
        assertThat(status(xid)).isEqualTo(GlobalStatus.PRE_COMMITTING);
        votes.forEach(Command::succeed);
        assertThat(join(commit).status()).isEqualTo(GlobalStatus.PRE_COMMITTED);

        List<Command> preCommits = List.of(rms.next(), rms.next());
        assertThat(preCommits).extracting(Command::action).containsOnly(BranchAction.PRE_COMMIT);
        preCommits.forEach(Command::succeed);
        List<Command> doCommits = List.of(rms.next(), rms.next());
        assertThat(doCommits).extracting(Command::action).containsOnly(BranchAction.COMMIT);
        // 3PC holds the rows until DoCommit is answered: every command leaves at once.
        assertThat(preCommits).extracting(Command::urgency).containsOnly(BranchChannel.Urgency.NOW);
        assertThat(doCommits).extracting(Command::urgency).containsOnly(BranchChannel.Urgency.NOW);
        assertThat(status(xid)).isEqualTo(GlobalStatus.COMMITTING);
        assertThat(coordinator.queryLocks(R1, List.of("account:1"), "")).as("held until DoCommit ends").isPresent();
        doCommits.forEach(Command::succeed);

        awaitSettled(xid, GlobalStatus.COMMITTED);
        assertThat(coordinator.queryLocks(R1, List.of("account:1"), "")).isEmpty();
        for (long b : List.of(b1, b2)) {
            assertThat(rms.actionsFor(xid, b)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.PRE_COMMIT,
                    BranchAction.COMMIT);
        }
        assertThat(store.findGlobal(xid).orElseThrow().heuristic()).isFalse();
    }

    /**
     * The CanCommits go out while PRE_COMMITTING is still being made durable (nothing is promised on
     * it); the TM's answer and the PreCommits still wait for it, and for PRE_COMMITTED after it.
     */
    @Test
    void theVotesGoOutWhileTheDecisionToCollectThemIsMadeDurableButNothingIsAnsweredBeforeIt() {
        String xid = begin(TransactionProtocol.THREE_PHASE);
        long b1 = register(xid, R1, "account:1");
        long b2 = register(xid, R2, "account:2");
        CompletableFuture<Void> durable = new CompletableFuture<>();
        preCommittingDurable = durable;

        CompletableFuture<GlobalTransaction> commit = coordinator.commit(xid);
        List<Command> votes = List.of(rms.next(), rms.next());
        assertThat(votes).extracting(Command::action).containsOnly(BranchAction.CAN_COMMIT);
        assertThat(votes).extracting(Command::branchId).containsExactlyInAnyOrder(b1, b2);
        votes.forEach(Command::succeed);
        assertThat(commit).as("the TM waits for PRE_COMMITTING to be durable, then for PRE_COMMITTED").isNotDone();
        assertThat(rms.waiting()).as("no PreCommit before the decision is durable").isEmpty();

        durable.complete(null);
        assertThat(join(commit).status()).isEqualTo(GlobalStatus.PRE_COMMITTED);
        List<Command> preCommits = List.of(rms.next(), rms.next());
        assertThat(preCommits).extracting(Command::action).containsOnly(BranchAction.PRE_COMMIT);
        preCommits.forEach(Command::succeed);
        List<Command> doCommits = List.of(rms.next(), rms.next());
        doCommits.forEach(Command::succeed);
        awaitSettled(xid, GlobalStatus.COMMITTED);
        for (long b : List.of(b1, b2)) {
            assertThat(rms.actionsFor(xid, b)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.PRE_COMMIT,
                    BranchAction.COMMIT);
        }
    }

    @Test
    void aNoVoteAbortsAndEveryBranchIsRolledBack() {
        String xid = begin(TransactionProtocol.THREE_PHASE);
        long b1 = register(xid, R1, "account:1");
        long b2 = register(xid, R2, "account:2");
        rms.script = c -> c.action() == BranchAction.CAN_COMMIT && c.branchId() == b2
                ? new Outcome(BranchStatus.VOTED_NO, "constraint violated", false)
                : new Outcome(Command.success(c.action()), "", false);

        GlobalTransaction answer = join(coordinator.commit(xid));
        assertThat(answer.status()).isEqualTo(GlobalStatus.ROLLBACKING);
        assertThat(answer.reason()).contains("branch " + b2).contains("voted no: constraint violated");
        awaitSettled(xid, GlobalStatus.ROLLBACKED);
        assertThat(rms.actionsFor(xid, b1)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.ROLLBACK);
        assertThat(rms.actionsFor(xid, b2)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.ROLLBACK);
    }

    @Test
    void aVoteMissingAtTheVoteTimeoutCountsAsNo() {
        String xid = begin(TransactionProtocol.THREE_PHASE);
        long b1 = register(xid, R1, "account:1");
        CompletableFuture<GlobalTransaction> commit = coordinator.commit(xid);
        Command vote = rms.next();
        assertThat(vote.action()).isEqualTo(BranchAction.CAN_COMMIT);

        time.advance(VOTE_TIMEOUT.minusMillis(1));
        assertThat(commit).isNotDone();
        assertThat(status(xid)).as("the recovery loop leaves a vote in progress alone").isEqualTo(GlobalStatus.PRE_COMMITTING);
        time.advance(Duration.ofMillis(1));

        GlobalTransaction answer = join(commit);
        assertThat(answer.status()).isEqualTo(GlobalStatus.ROLLBACKING);
        assertThat(answer.reason()).contains("no vote within " + VOTE_TIMEOUT);
        Command rollback = rms.next();
        assertThat(rollback.action()).isEqualTo(BranchAction.ROLLBACK);
        vote.succeed(); // the late yes changes nothing
        rollback.succeed();
        awaitSettled(xid, GlobalStatus.ROLLBACKED);
        assertThat(rms.actionsFor(xid, b1)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.ROLLBACK);
    }

    /** The vote timeout runs from the sending: time that passes while the command goes out counts. */
    @Test
    void theVoteTimeoutCountsFromTheMomentTheVoteIsAskedFor() {
        String xid = begin(TransactionProtocol.THREE_PHASE);
        register(xid, R1, "account:1");
        rms.script = c -> {
            if (c.action() == BranchAction.CAN_COMMIT) {
                time.advance(VOTE_TIMEOUT); // the whole timeout passes while the command is being sent
                return null;
            }
            return new Outcome(Command.success(c.action()), "", false);
        };

        GlobalTransaction answer = join(coordinator.commit(xid));
        assertThat(answer.status()).isEqualTo(GlobalStatus.ROLLBACKING);
        assertThat(answer.reason()).contains("no vote within " + VOTE_TIMEOUT);
    }

    @Test
    void aBranchItsRmRolledBackAloneIsRedoneAndTheOutcomeMarkedHeuristic() {
        String xid = begin(TransactionProtocol.THREE_PHASE);
        long b1 = register(xid, R1, "account:1");
        long b2 = register(xid, R2, "account:2");
        // b2's RM was cut off before PreCommit reached it, timed out and rolled back on its own.
        rms.script = c -> c.action() == BranchAction.PRE_COMMIT && c.branchId() == b2
                ? new Outcome(BranchStatus.PHASE2_ROLLBACKED, "no word from the TC for 10s", true)
                : new Outcome(Command.success(c.action()), "", false);

        join(coordinator.commit(xid));
        awaitSettled(xid, GlobalStatus.COMMITTED);

        GlobalTransaction end = store.findGlobal(xid).orElseThrow();
        assertThat(end.heuristic()).isTrue();
        assertThat(end.heuristicEvidence()).contains("rolled back by its RM on its own");
        assertThat(end.reason()).contains("repaired");
        assertThat(rms.actionsFor(xid, b2)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.PRE_COMMIT,
                BranchAction.REDO);
        assertThat(rms.actionsFor(xid, b1)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.PRE_COMMIT,
                BranchAction.COMMIT);
        assertThat(store.findBranches(xid)).as("kept as evidence").anySatisfy(b ->
                assertThat(b.reason()).contains("redone by the TC"));
        assertThat(counter("heuristic")).isEqualTo(1);
    }

    @Test
    void anRmReportingItRolledBackAloneAfterTheDecisionIsRedone() {
        String xid = begin(TransactionProtocol.THREE_PHASE);
        long b1 = register(xid, R1, "account:1");
        rms.script = c -> c.action() == BranchAction.CAN_COMMIT ? new Outcome(BranchStatus.VOTED_YES, "", false) : null;
        join(coordinator.commit(xid));
        Command preCommit = rms.next(); // not answered: the RM is cut off
        preCommit.answer(BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE);
        awaitSettled(xid, GlobalStatus.PRE_COMMITTED);

        // The RM gave up waiting, rolled back by itself, and tells the TC when it can reach it again:
        // the TC redoes the branch from its after image (that is its commit) at once, not after the backoff.
        rms.succeedAlways();
        coordinator.reportBranch(xid, b1, BranchStatus.PHASE2_ROLLBACKED, "no word from any TC for 10s", true).join();
        awaitSettled(xid, GlobalStatus.COMMITTED);
        assertThat(store.findGlobal(xid).orElseThrow().heuristic()).isTrue();
        assertThat(rms.actionsFor(xid, b1)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.PRE_COMMIT,
                BranchAction.REDO);
    }

    @Test
    void aRegistrationTellsTheRmItsTransactionsProtocol() {
        String three = begin(TransactionProtocol.THREE_PHASE);
        assertThat(coordinator.registerBranch(three, R1, List.of("account:7"), new byte[0], "rm-1").join().protocol())
                .isEqualTo(TransactionProtocol.THREE_PHASE);
        String two = begin(TransactionProtocol.TWO_PHASE);
        assertThat(coordinator.registerBranch(two, R1, List.of("account:8"), new byte[0], "rm-1").join().protocol())
                .isEqualTo(TransactionProtocol.TWO_PHASE);
    }

    // ---- lock waits ----

    @Test
    void aWaitingRegistrationIsWokenByTheHoldersCommitAndToldHowLongItWaited() {
        rms.succeedAlways();
        String holder = begin(TransactionProtocol.TWO_PHASE);
        register(holder, R1, "account:1");
        String waiter = begin(TransactionProtocol.TWO_PHASE);

        CompletableFuture<Coordinator.Registration> waiting = coordinator.registerBranch(waiter, R1,
                List.of("account:1"), new byte[0], "rm-1", 10_000);
        time.advance(Duration.ofMillis(250));
        assertThat(waiting).isNotDone();
        coordinator.commit(holder).join();

        Coordinator.Registration woken = join(waiting);
        assertThat(woken.result()).isInstanceOf(RegisterResult.Registered.class);
        assertThat(woken.waitedMs()).isEqualTo(250);
    }

    @Test
    void theEmbeddedStoreHandsAReleasedRowToItsWaiterWithTheReleaseNotAfterItIsDurable() {
        // The waiter's registration is logged after the release, so it shares the release's fsync
        // instead of waiting for it: one fsync less per hand-on of a hot row.
        rms.succeedAlways();
        String holder = begin(TransactionProtocol.TWO_PHASE);
        register(holder, R1, "account:1");
        String waiter = begin(TransactionProtocol.TWO_PHASE);
        CompletableFuture<Coordinator.Registration> waiting = coordinator.registerBranch(waiter, R1,
                List.of("account:1"), new byte[0], "rm-1", 10_000);
        assertThat(waiting).isNotDone();

        releaseDurable = new CompletableFuture<>();
        coordinator.commit(holder).join();
        await(() -> store.findLocks(waiter).size() == 1, () -> "the row handed to the waiter while its release is "
                + "not yet durable; locks of the waiter: " + store.findLocks(waiter));
        releaseDurable.complete(null);
        assertThat(join(waiting).result()).isInstanceOf(RegisterResult.Registered.class);
        assertThat(store.findLocks(holder)).isEmpty();
    }

    @Test
    void aWaitEndsAtItsDeadlineWithTheConflictAndAtOnceWhenTheHolderRollsBack() {
        String holder = begin(TransactionProtocol.TWO_PHASE);
        register(holder, R1, "account:1");

        CompletableFuture<Coordinator.Registration> timedOut = coordinator.registerBranch(
                begin(TransactionProtocol.TWO_PHASE), R1, List.of("account:1"), new byte[0], "rm-1", 1000);
        time.advance(Duration.ofMillis(999));
        assertThat(timedOut).isNotDone();
        time.advance(Duration.ofMillis(1));
        Coordinator.Registration conflict = join(timedOut);
        assertThat(conflict.result()).isInstanceOf(RegisterResult.Conflict.class);
        assertThat(conflict.waitedMs()).isEqualTo(1000);

        CompletableFuture<Coordinator.Registration> cutShort = coordinator.registerBranch(
                begin(TransactionProtocol.TWO_PHASE), R1, List.of("account:1"), new byte[0], "rm-1", 10_000);
        assertThat(cutShort).isNotDone();
        coordinator.rollback(holder).join(); // its undo needs the row the waiter's local transaction holds
        Coordinator.Registration answered = join(cutShort);
        assertThat(answered.result()).isInstanceOf(RegisterResult.Conflict.class);
        assertThat(answered.waitedMs()).isZero();
        rms.next().succeed();
        awaitSettled(holder, GlobalStatus.ROLLBACKED);
    }

    // ---- status moves ----

    @Test
    void anIllegalStatusMoveIsRefusedWithItsXidAndBothStatusesAtEveryKindOfSite() {
        String xid = begin(TransactionProtocol.TWO_PHASE);
        GlobalTransaction tx = store.findGlobal(xid).orElseThrow();

        // The decision: BEGIN goes only where the table says.
        assertThatThrownBy(() -> driver.decide(tx, GlobalStatus.COMMITTED, "skipping phase 2", ChangeCause.TM))
                .isInstanceOfSatisfying(CoordinatorException.class,
                        e -> assertThat(e.errorCode()).isEqualTo(ErrorCode.ILLEGAL_TRANSITION))
                .hasMessageContaining(xid).hasMessageContaining("from BEGIN to COMMITTED");
        // Every other move, phase 2's and a person's: each pair the table lacks is refused before the store.
        StatusMoves moves = new StatusMoves(store);
        for (GlobalStatus from : GlobalStatus.values()) {
            for (GlobalStatus to : GlobalStatus.values()) {
                if (from == GlobalStatus.BEGIN || GlobalStateMachine.canMove(from, to)) {
                    continue;
                }
                assertThatThrownBy(() -> moves.move(xid, from, to, "illegal", ChangeCause.TC))
                        .as("%s -> %s", from, to).isInstanceOf(CoordinatorException.class)
                        .hasMessageContaining(xid).hasMessageContaining("from " + from + " to " + to);
            }
        }
        // Leaving BEGIN has one door: the decision.
        assertThatThrownBy(() -> moves.move(xid, GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "a side door", ChangeCause.TC))
                .isInstanceOf(CoordinatorException.class).hasMessageContaining(xid)
                .hasMessageContaining("only the decision (Phase2Driver.decide) leaves BEGIN");
        // A person's retry of a transaction that has nothing to retry.
        assertThat(errorOf(() -> coordinator.retry(xid, "admin"))).isEqualTo(ErrorCode.ILLEGAL_TRANSITION);
        assertThat(status(xid)).as("nothing was written").isEqualTo(GlobalStatus.BEGIN);
        assertThat(rms.sentFor(xid)).isEmpty();
    }

    // ---- helpers ----

    private String begin(TransactionProtocol protocol) {
        return coordinator.begin("transfer", "app", TX_TIMEOUT.toMillis(), protocol).join().xid();
    }

    private long register(String xid, String resource, String... lockKeys) {
        RegisterResult r = coordinator.registerBranch(xid, resource, List.of(lockKeys), new byte[0], "rm-1").join()
                .result();
        assertThat(r).as("registered").isInstanceOf(RegisterResult.Registered.class);
        return ((RegisterResult.Registered) r).branchId();
    }

    private GlobalStatus status(String xid) {
        return store.findGlobal(xid).orElseThrow().status();
    }

    private double counter(String event) {
        return registry.get("cohort.tc.transactions").tag("event", event).counter().count();
    }

    /** Waits until {@code xid} is in {@code expected} with no task driving it (the store's thread hands back). */
    private void awaitSettled(String xid, GlobalStatus expected) {
        await(() -> status(xid) == expected && !driver.isDriving(xid),
                () -> xid + " to settle in " + expected + " (is " + status(xid) + ", driving: " + driver.isDriving(xid) + ")");
    }

    private static void await(BooleanSupplier condition, Supplier<String> what) {
        long deadline = System.nanoTime() + HANDOFF.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Timed out waiting for " + what.get());
            }
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(200));
        }
    }

    private static <T> T join(CompletableFuture<T> future) {
        try {
            return future.get(HANDOFF.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            throw new AssertionError("no answer: " + e, e);
        }
    }

    private static ErrorCode errorOf(Runnable call) {
        try {
            call.run();
        } catch (CoordinatorException e) {
            return e.errorCode();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof CoordinatorException c) {
                return c.errorCode();
            }
            throw e;
        }
        throw new AssertionError("expected the coordinator to refuse the call");
    }
}
