package io.cohort.tc.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.tc.ManualClock;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.Xid;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.coordinator.ScriptedChannel.Command;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.embedded.EmbeddedStoreConfig;
import io.cohort.tc.store.embedded.EmbeddedTransactionStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Transactions whose XID the TM made (protocol minor 8): the TC creates them at the first request it
 * hears of them, with everything Begin checks. Same rig as {@link ScriptedCoordinatorTest}: the real
 * embedded store, scripted RMs, a clock that moves only when the test says.
 */
class BeginlessCoordinatorTest {

    private static final String R1 = "jdbc:postgresql://db1/bank_a";
    private static final String R2 = "jdbc:postgresql://db2/bank_b";
    private static final String TC = ScriptedTc.TC;
    private static final Duration RECOVERY_INTERVAL = ScriptedTc.RECOVERY_INTERVAL;
    private static final Duration TX_TIMEOUT = ScriptedTc.TX_TIMEOUT;
    private static final Duration HANDOFF = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private final ManualClock clock = new ManualClock(Instant.parse("2026-01-01T00:00:00Z"));
    private final ManualScheduler time = new ManualScheduler(clock);
    private final ScriptedChannel rms = new ScriptedChannel(R1, R2);
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final SecureRandom random = new SecureRandom();
    private EmbeddedTransactionStore store;
    private Phase2Driver driver;
    private RecoveryLoop recovery;

    @BeforeEach
    void start() {
        store = new EmbeddedTransactionStore(new EmbeddedStoreConfig(dir, 1L << 30, false, Duration.ZERO, 4096), clock,
                registry);
    }

    private Coordinator coordinator(Coordinator.Limits limits) {
        ScriptedTc tc = ScriptedTc.wire(store, rms, registry, clock, time, limits);
        driver = tc.driver();
        recovery = tc.recovery();
        return tc.coordinator();
    }

    private Coordinator coordinator() {
        return coordinator(new Coordinator.Limits(1000, 1000));
    }

    @AfterEach
    void stop() {
        if (recovery != null) {
            recovery.close();
        }
        store.close();
    }

    @Test
    void theFirstRegistrationCreatesTheTransactionWithWhatBeginWouldHaveRecorded() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        Coordinator.Registration first = join(coordinator.registerBranch(xid, R1, List.of("account:1"), new byte[0],
                "rm-1", 0, creation("transfer", 5000, TransactionProtocol.THREE_PHASE, 1200)));
        assertThat(first.result()).isInstanceOf(RegisterResult.Registered.class);
        assertThat(first.protocol()).isEqualTo(TransactionProtocol.THREE_PHASE);

        GlobalTransaction tx = store.findGlobal(xid).orElseThrow();
        assertThat(tx.status()).isEqualTo(GlobalStatus.BEGIN);
        assertThat(tx.name()).isEqualTo("transfer");
        assertThat(tx.applicationId()).isEqualTo("app");
        assertThat(tx.timeoutMs()).isEqualTo(5000);
        assertThat(tx.beginTimeMs()).as("begun when the TM began it").isEqualTo(clock.millis() - 1200);

        // The second registration (creation still attached: the TM's process did not hear back yet) joins it.
        join(coordinator.registerBranch(xid, R2, List.of("account:2"), new byte[0], "rm-1", 0,
                creation("transfer", 5000, TransactionProtocol.THREE_PHASE, 1300)));
        assertThat(store.findBranches(xid)).hasSize(2);
        assertThat(store.findGlobal(xid).orElseThrow().beginTimeMs()).isEqualTo(tx.beginTimeMs());
    }

    @Test
    void theDeadlineCountsFromWhenTheTmBeganNotFromWhenTheTcHeard() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        join(coordinator.registerBranch(xid, R1, List.of("account:7"), new byte[0], "rm-1", 0,
                creation("slow", 5000, TransactionProtocol.TWO_PHASE, 3000)));

        time.advance(Duration.ofMillis(2000));
        assertThat(status(xid)).as("at its deadline (3000 + 2000 ms after begin), not past it").isEqualTo(GlobalStatus.BEGIN);
        time.advance(RECOVERY_INTERVAL);
        Command rollback = rms.next();
        assertThat(rollback.action()).isEqualTo(BranchAction.ROLLBACK);
        rollback.succeed();
        awaitStatus(xid, GlobalStatus.TIMEOUT_ROLLBACKED);
    }

    @Test
    void aFirstRegistrationPastTheDeadlineIsRefusedAndTheTransactionRecordedTimedOut() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        CoordinatorException refused = refusal(() -> coordinator.registerBranch(xid, R1, List.of("account:1"),
                new byte[0], "rm-1", 0, creation("late", 1000, TransactionProtocol.TWO_PHASE, 1001)));
        assertThat(refused.errorCode()).isEqualTo(ErrorCode.GLOBAL_TIMED_OUT);
        assertThat(refused).hasMessageContaining("1001 ms after its TM began it, timeout 1000 ms");
        assertThat(status(xid)).isEqualTo(GlobalStatus.TIMEOUT_ROLLBACKED);
        assertThat(store.findBranches(xid)).isEmpty();
        assertThat(coordinator.queryLocks(R1, List.of("account:1"), "")).isEmpty();

        // The TM's commit now hears that it timed out.
        assertThat(refusal(() -> coordinator.commit(xid, creation("late", 1000, TransactionProtocol.TWO_PHASE, 1500)))
                .errorCode()).isEqualTo(ErrorCode.GLOBAL_TIMED_OUT);
    }

    @Test
    void theCapsOnUnfinishedTransactionsAreCheckedAtCreation() {
        Coordinator coordinator = coordinator(new Coordinator.Limits(1, 1));
        String first = tmXid();
        join(coordinator.registerBranch(first, R1, List.of("account:1"), new byte[0], "rm-1", 0, creation("a", 0,
                TransactionProtocol.TWO_PHASE, 0)));

        String second = tmXid();
        CoordinatorException refused = refusal(() -> coordinator.registerBranch(second, R1, List.of("account:2"),
                new byte[0], "rm-1", 0, creation("b", 0, TransactionProtocol.TWO_PHASE, 0)));
        assertThat(refused.errorCode()).isEqualTo(ErrorCode.TOO_MANY_TRANSACTIONS);
        assertThat(store.findGlobal(second)).isEmpty();
        // The transaction that exists takes more branches: the cap counts transactions, not requests.
        join(coordinator.registerBranch(first, R2, List.of("account:3"), new byte[0], "rm-1", 0, creation("a", 0,
                TransactionProtocol.TWO_PHASE, 5)));
    }

    @Test
    void aCommitOfATransactionNobodyRegisteredInIsRecordedCommittedAndALateRegistrationIsRefused() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        GlobalTransaction committed = join(coordinator.commit(xid, creation("empty", 0, TransactionProtocol.TWO_PHASE, 3)));
        assertThat(committed.status()).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(status(xid)).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(join(coordinator.commit(xid, creation("empty", 0, TransactionProtocol.TWO_PHASE, 4))).status())
                .as("repeated").isEqualTo(GlobalStatus.COMMITTED);

        CoordinatorException late = refusal(() -> coordinator.registerBranch(xid, R1, List.of("account:1"), new byte[0],
                "rm-1", 0, creation("empty", 0, TransactionProtocol.TWO_PHASE, 5)));
        assertThat(late.errorCode()).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
        assertThat(store.findBranches(xid)).isEmpty();
        assertThat(refusal(() -> coordinator.rollback(xid, creation("empty", 0, TransactionProtocol.TWO_PHASE, 6)))
                .errorCode()).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
    }

    @Test
    void aRollbackOfATransactionNobodyRegisteredInIsRecordedRolledBackAndALateRegistrationIsRefused() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        assertThat(join(coordinator.rollback(xid, creation("empty", 0, TransactionProtocol.TWO_PHASE, 3))).status())
                .isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(refusal(() -> coordinator.registerBranch(xid, R1, List.of("account:1"), new byte[0], "rm-1", 0,
                creation("empty", 0, TransactionProtocol.TWO_PHASE, 5))).errorCode()).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
        assertThat(refusal(() -> coordinator.commit(xid, creation("empty", 0, TransactionProtocol.TWO_PHASE, 6)))
                .errorCode()).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
    }

    @Test
    void aRollbackOnlyMarkBeforeAnyRegistrationMakesTheTmsCommitFailWithTheReason() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        assertThat(join(coordinator.markRollbackOnly(xid, R1, "duplicate key", creation("t", 0,
                TransactionProtocol.TWO_PHASE, 2))).status()).isEqualTo(GlobalStatus.ROLLBACKED);
        CoordinatorException refused = refusal(() -> coordinator.commit(xid, creation("t", 0,
                TransactionProtocol.TWO_PHASE, 3)));
        assertThat(refused.errorCode()).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
        assertThat(refused).hasMessageContaining("duplicate key");
    }

    @Test
    void aCommitPastTheDeadlineOfATransactionNobodyRegisteredInIsRefusedAsTimedOut() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        assertThat(refusal(() -> coordinator.commit(xid, creation("slow", 1000, TransactionProtocol.TWO_PHASE, 1001)))
                .errorCode()).isEqualTo(ErrorCode.GLOBAL_TIMED_OUT);
        assertThat(status(xid)).isEqualTo(GlobalStatus.TIMEOUT_ROLLBACKED);
    }

    @Test
    void aNeverSeenXidIsUnknownToGetStatusAndToRequestsThatCannotCreateIt() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        assertThat(refusal(() -> coordinator.status(xid)).errorCode()).isEqualTo(ErrorCode.UNKNOWN_XID);
        assertThat(refusal(() -> coordinator.commit(xid)).errorCode()).isEqualTo(ErrorCode.UNKNOWN_XID);
        assertThat(refusal(() -> coordinator.registerBranch(xid, R1, List.of("account:1"), new byte[0], "rm-1"))
                .errorCode()).isEqualTo(ErrorCode.UNKNOWN_XID);
        assertThat(store.findGlobal(xid)).isEmpty();
    }

    @Test
    void anXidTheTcWouldHaveIssuedOrOneWithoutAnAddressIsNotCreated() {
        Coordinator coordinator = coordinator();
        String tcMade = Xid.tagged(TC, 42, random).toString(); // its transaction is gone, or was never begun
        CoordinatorException unknown = refusal(() -> coordinator.registerBranch(tcMade, R1, List.of("account:1"),
                new byte[0], "rm-1", 0, creation("t", 0, TransactionProtocol.TWO_PHASE, 0)));
        assertThat(unknown.errorCode()).isEqualTo(ErrorCode.UNKNOWN_XID);
        assertThat(unknown).hasMessageContaining("only an XID a TM made");

        String forged = Xid.tmMade("no-port", 1, random).toString();
        CoordinatorException invalid = refusal(() -> coordinator.commit(forged, creation("t", 0,
                TransactionProtocol.TWO_PHASE, 0)));
        assertThat(invalid.errorCode()).isEqualTo(ErrorCode.INVALID_REQUEST);
        assertThat(invalid).hasMessageContaining("host:port");
        assertThat(refusal(() -> coordinator.commit(tmXid(), creation("t", 0, TransactionProtocol.TWO_PHASE, -1)))
                .errorCode()).isEqualTo(ErrorCode.INVALID_REQUEST);
        assertThat(store.findGlobal(tcMade)).isEmpty();
        assertThat(store.findGlobal(forged)).isEmpty();
    }

    @Test
    void beginWithATmMadeXidCreatesItOnceAndAnswersItAgain() {
        Coordinator coordinator = coordinator();
        String xid = tmXid();
        GlobalTransaction created = join(coordinator.begin(xid, creation("t", 0, TransactionProtocol.TWO_PHASE, 10)));
        assertThat(created.status()).isEqualTo(GlobalStatus.BEGIN);
        assertThat(created.timeoutMs()).isEqualTo(TX_TIMEOUT.toMillis());
        clock.advance(Duration.ofMillis(50));
        GlobalTransaction again = join(coordinator.begin(xid, creation("t", 0, TransactionProtocol.TWO_PHASE, 60)));
        assertThat(again.beginTimeMs()).isEqualTo(created.beginTimeMs());
    }

    private String tmXid() {
        return Xid.tmMade(TC, clock.millis(), random).toString();
    }

    private static Coordinator.Creation creation(String name, long timeoutMs, TransactionProtocol protocol, long elapsedMs) {
        return new Coordinator.Creation(name, "app", timeoutMs, protocol, elapsedMs);
    }

    private GlobalStatus status(String xid) {
        return store.findGlobal(xid).orElseThrow().status();
    }

    private void awaitStatus(String xid, GlobalStatus expected) {
        long deadline = System.nanoTime() + HANDOFF.toNanos();
        BooleanSupplier settled = () -> status(xid) == expected && !driver.isDriving(xid);
        while (!settled.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Timed out waiting for " + xid + " to settle in " + expected + " (is "
                        + status(xid) + ")");
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

    /** The coordinator's refusal, whether thrown at once or as the answer's failure. */
    private static CoordinatorException refusal(Supplier<?> call) {
        try {
            Object answer = call.get();
            if (answer instanceof CompletableFuture<?> future) {
                future.get(HANDOFF.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (CoordinatorException e) {
            return e;
        } catch (java.util.concurrent.ExecutionException | CompletionException e) {
            if (e.getCause() instanceof CoordinatorException c) {
                return c;
            }
            throw new AssertionError("refused with something else: " + e, e);
        } catch (Exception e) {
            throw new AssertionError("no answer: " + e, e);
        }
        throw new AssertionError("expected the coordinator to refuse the call");
    }
}
