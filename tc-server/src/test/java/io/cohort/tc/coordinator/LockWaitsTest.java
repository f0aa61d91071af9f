package io.cohort.tc.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.embedded.EmbeddedStoreConfig;
import io.cohort.tc.store.embedded.EmbeddedTransactionStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The TC's lock-wait queue over a real embedded store (a temporary directory, fsync off): waiters
 * are woken by the holder's release, in arrival order, never held past their deadline, bounded in
 * number, and leave when cancelled. Waits are bounded by deadlines, never by sleeps.
 */
class LockWaitsTest {

    /** Far longer than any test: only a release (or the deadline under test) can end a wait. */
    private static final Duration NO_RECHECK = Duration.ofHours(1);
    private static final long LONG_WAIT_MS = 60_000;
    private static final Duration AWAIT = Duration.ofSeconds(30);

    private final Clock clock = Clock.systemUTC();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicInteger timerFires = new AtomicInteger();
    private ScheduledExecutorService timer;
    private EmbeddedTransactionStore store;
    private LockWaits waits;

    @BeforeEach
    void open() throws Exception {
        Path dir = Files.createTempDirectory("lock-waits-test");
        store = new EmbeddedTransactionStore(new EmbeddedStoreConfig(dir, 1L << 30, false, Duration.ZERO, 4096), clock,
                new SimpleMeterRegistry());
        timer = new ScheduledThreadPoolExecutor(1) {
            @Override
            public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
                return super.schedule(() -> {
                    timerFires.incrementAndGet();
                    command.run();
                }, delay, unit);
            }
        };
        waits = waits(new LockWaits.Settings(100, Duration.ofMinutes(5), NO_RECHECK));
    }

    private LockWaits waits(LockWaits.Settings settings) {
        return new LockWaits(settings, timer, clock, System::nanoTime,
                holder -> store.findGlobal(holder).map(tx -> tx.status().isRollbackDecided()).orElse(false), null);
    }

    @AfterEach
    void close() {
        timer.shutdownNow();
        store.close();
    }

    @Test
    void aWaiterTakesTheRowAsSoonAsTheHolderReleasesIt() throws Exception {
        String holder = holding("account:1");
        String waiter = begin();
        CompletableFuture<LockWaits.Outcome> wait = register(waiter, LONG_WAIT_MS, "account:1");
        awaitCondition(() -> waits.waiting() == 1);
        assertThat(wait).isNotDone();

        long released = System.nanoTime();
        release(holder);
        LockWaits.Outcome outcome = wait.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(outcome.result()).isInstanceOf(RegisterResult.Registered.class);
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - released))
                .as("woken by the release, not by a re-check (there is none within the test)")
                .isLessThan(AWAIT.toMillis());
        assertThat(store.findLocks(waiter)).extracting(l -> l.row().lockKey()).containsExactly("account:1");
        assertThat(waits.waiting()).isZero();
    }

    @Test
    void waitersTakeARowInTheOrderTheyCame() throws Exception {
        String holder = holding("account:7");
        String first = begin();
        String second = begin();
        String third = begin();
        CompletableFuture<LockWaits.Outcome> w1 = register(first, LONG_WAIT_MS, "account:7");
        awaitCondition(() -> waits.waiting() == 1);
        CompletableFuture<LockWaits.Outcome> w2 = register(second, LONG_WAIT_MS, "account:7");
        awaitCondition(() -> waits.waiting() == 2);
        CompletableFuture<LockWaits.Outcome> w3 = register(third, LONG_WAIT_MS, "account:7");
        awaitCondition(() -> waits.waiting() == 3);

        release(holder);
        assertThat(w1.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result()).isInstanceOf(RegisterResult.Registered.class);
        awaitCondition(() -> waits.waiting() == 2); // the others wait for the first now
        assertThat(w2).isNotDone();
        assertThat(w3).isNotDone();

        release(first);
        assertThat(w2.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result()).isInstanceOf(RegisterResult.Registered.class);
        awaitCondition(() -> waits.waiting() == 1);
        assertThat(w3).isNotDone();

        release(second);
        assertThat(w3.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result()).isInstanceOf(RegisterResult.Registered.class);
        assertThat(store.findLocks(third)).hasSize(1);
    }

    @Test
    void aWaiterIsAnsweredTheConflictAtItsDeadlineAndNotLater() throws Exception {
        String holder = holding("account:2");
        String waiter = begin();
        long start = System.nanoTime();
        LockWaits.Outcome outcome = register(waiter, 300, "account:2").get(AWAIT.toMillis(), TimeUnit.MILLISECONDS);
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

        assertThat(outcome.result()).isInstanceOfSatisfying(RegisterResult.Conflict.class, c -> {
            assertThat(c.heldBy().xid()).isEqualTo(holder);
            assertThat(c.heldBy().row().lockKey()).isEqualTo("account:2");
        });
        assertThat(outcome.waitedMs()).isGreaterThanOrEqualTo(300);
        assertThat(tookMs).isGreaterThanOrEqualTo(300);
        assertThat(waits.waiting()).isZero();
        assertThat(store.findBranches(waiter)).isEmpty();
    }

    @Test
    void theCapOnWaitersAnswersTheNextConflictAtOnce() throws Exception {
        waits = waits(new LockWaits.Settings(1, Duration.ofMinutes(5), NO_RECHECK));
        String holder = holding("account:3");
        CompletableFuture<LockWaits.Outcome> first = register(begin(), LONG_WAIT_MS, "account:3");
        awaitCondition(() -> waits.waiting() == 1);

        LockWaits.Outcome refused = register(begin(), LONG_WAIT_MS, "account:3").get(AWAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(refused.result()).isInstanceOf(RegisterResult.Conflict.class);
        assertThat(refused.waitedMs()).as("answered at once, so the RM backs off itself").isLessThan(LONG_WAIT_MS / 2);
        assertThat(first).isNotDone();

        release(holder);
        assertThat(first.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result()).isInstanceOf(RegisterResult.Registered.class);
    }

    @Test
    void withWaitingOffAConflictIsAnsweredAtOnce() throws Exception {
        waits = waits(LockWaits.Settings.off());
        holding("account:4");
        LockWaits.Outcome outcome = register(begin(), LONG_WAIT_MS, "account:4").get(AWAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(outcome.result()).isInstanceOf(RegisterResult.Conflict.class);
        assertThat(outcome.waitedMs()).isZero();
    }

    @Test
    void aCancelledWaiterLeavesTheQueueAndTakesNothing() throws Exception {
        String holder = holding("account:5");
        String waiter = begin();
        CompletableFuture<LockWaits.Outcome> wait = register(waiter, LONG_WAIT_MS, "account:5");
        awaitCondition(() -> waits.waiting() == 1);

        wait.cancel(false);
        awaitCondition(() -> waits.waiting() == 0);
        release(holder);
        String next = begin();
        assertThat(register(next, LONG_WAIT_MS, "account:5").get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result())
                .isInstanceOf(RegisterResult.Registered.class);
        assertThat(store.findBranches(waiter)).isEmpty();
    }

    @Test
    void aHolderThatRollsBackSendsItsWaitersAwayAtOnce() throws Exception {
        String holder = holding("account:6");
        CompletableFuture<LockWaits.Outcome> wait = register(begin(), LONG_WAIT_MS, "account:6");
        awaitCondition(() -> waits.waiting() == 1);

        store.transitionGlobal(holder, GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "test").join();
        waits.rollingBack(holder);
        LockWaits.Outcome outcome = wait.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(outcome.result()).isInstanceOfSatisfying(RegisterResult.Conflict.class,
                c -> assertThat(c.heldBy().xid()).isEqualTo(holder));
        assertThat(waits.waiting()).isZero();

        // A rolling-back holder is not waited for at all.
        LockWaits.Outcome late = register(begin(), LONG_WAIT_MS, "account:6").get(AWAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(late.result()).isInstanceOf(RegisterResult.Conflict.class);
    }

    @Test
    void aReleaseThisReplicaDidNotSeeIsFoundByTheRecheck() throws Exception {
        waits = waits(new LockWaits.Settings(100, Duration.ofMinutes(5), Duration.ofMillis(50)));
        String holder = holding("account:8");
        CompletableFuture<LockWaits.Outcome> wait = register(begin(), LONG_WAIT_MS, "account:8");
        awaitCondition(() -> waits.waiting() == 1);

        store.releaseLocks(holder).join(); // as another replica would: nobody calls released()
        assertThat(wait.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result()).isInstanceOf(RegisterResult.Registered.class);
    }

    @Test
    void onlyTheFirstWaiterOfARowRechecksTheOthersWaitForTheirTurnWithoutTimers() throws Exception {
        // The re-check looks for a release by another replica; only the first waiter would take the row,
        // so the others' timers firing every interval were work that grew with the line, for nothing.
        waits = waits(new LockWaits.Settings(100, Duration.ofMinutes(5), Duration.ofMillis(10)));
        int waiters = 8;
        holding("account:12");
        Map<String, AtomicInteger> attempts = new HashMap<>();
        List<String> line = new ArrayList<>();
        for (int i = 1; i <= waiters; i++) {
            String xid = begin();
            line.add(xid);
            counted(xid, "account:12", attempts);
            int queued = i;
            awaitCondition(() -> waits.waiting() == queued);
        }
        int firesBefore = timerFires.get();
        AtomicInteger first = attempts.get(line.get(0));
        int firstBefore = first.get();
        awaitCondition(() -> first.get() - firstBefore >= 5); // the first in line looked again 5 times
        int fires = timerFires.get() - firesBefore;
        int rechecks = first.get() - firstBefore;
        assertThat(fires).as("timer firings while the first waiter re-checked %d times", rechecks)
                .isLessThanOrEqualTo(rechecks + 2);
        for (String xid : line.subList(1, waiters)) {
            assertThat(attempts.get(xid).get()).as("attempts of a waiter behind the first").isEqualTo(1);
        }
    }

    @Test
    void aWaiterForTwoRowsMovesOnToTheSecondAndLetsTheNextOneHaveTheFirst() throws Exception {
        String holderA = holding("account:10");
        String holderB = holding("account:11");
        String both = begin();
        CompletableFuture<LockWaits.Outcome> wBoth = register(both, LONG_WAIT_MS, "account:10,11");
        awaitCondition(() -> waits.waiting() == 1);
        String onlyA = begin();
        CompletableFuture<LockWaits.Outcome> wA = register(onlyA, LONG_WAIT_MS, "account:10");
        awaitCondition(() -> waits.waiting() == 2);

        release(holderA); // the first waiter still finds account:11 held and queues there; the next takes account:10
        assertThat(wA.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result()).isInstanceOf(RegisterResult.Registered.class);
        assertThat(wBoth).isNotDone();

        release(holderB);
        release(onlyA);
        assertThat(wBoth.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result()).isInstanceOf(RegisterResult.Registered.class);
        assertThat(store.findLocks(both)).hasSize(2);
    }

    // ---- helpers ----

    private String begin() {
        String xid = "127.0.0.1:8091:" + ids.incrementAndGet();
        long now = clock.millis();
        store.insertGlobal(new GlobalTransaction(xid, "t", "app", TransactionProtocol.TWO_PHASE, GlobalStatus.BEGIN, now,
                600_000, "", "", now)).join();
        return xid;
    }

    private String holding(String lockKey) throws Exception {
        String xid = begin();
        assertThat(register(xid, 0, lockKey).get(AWAIT.toMillis(), TimeUnit.MILLISECONDS).result())
                .isInstanceOf(RegisterResult.Registered.class);
        return xid;
    }

    private CompletableFuture<LockWaits.Outcome> register(String xid, long waitMs, String lockKey) {
        Branch branch = new Branch(xid, ids.incrementAndGet(), "db", "rm", List.of(lockKey), new byte[0],
                BranchStatus.REGISTERED, clock.millis(), "");
        List<RowKey> rows = RowKey.expand("db", List.of(lockKey));
        return waits.register(xid, waitMs, () -> store.registerBranch(branch, rows));
    }

    /** Registers {@code xid} waiting as long as the test may, counting its store attempts in {@code attempts}. */
    private CompletableFuture<LockWaits.Outcome> counted(String xid, String lockKey, Map<String, AtomicInteger> attempts) {
        Branch branch = new Branch(xid, ids.incrementAndGet(), "db", "rm", List.of(lockKey), new byte[0],
                BranchStatus.REGISTERED, clock.millis(), "");
        List<RowKey> rows = RowKey.expand("db", List.of(lockKey));
        AtomicInteger count = attempts.computeIfAbsent(xid, k -> new AtomicInteger());
        return waits.register(xid, LONG_WAIT_MS, () -> {
            count.incrementAndGet();
            return store.registerBranch(branch, rows);
        });
    }

    /** What the coordinator does when a transaction's locks go: release in the store, then wake. */
    private void release(String xid) {
        store.releaseLocks(xid).join();
        waits.released(xid);
    }

    private static void awaitCondition(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + AWAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not reached within " + AWAIT);
            }
            Thread.sleep(5);
        }
    }
}
