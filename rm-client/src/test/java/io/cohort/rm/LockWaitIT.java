package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.testsupport.TestPostgres;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Global lock waits end when the lock frees: a real TC process, a real RM on PostgreSQL. A branch
 * whose row another global transaction holds is held at the TC and proceeds as soon as the holder
 * commits — with one registration call, not after a step of the RM's backoff — and a waiter whose
 * budget runs out gets the same {@link GlobalLockConflictException} as before, naming the holder.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LockWaitIT {

    private static final Pattern WAITERS = Pattern.compile("(?m)^cohort_tc_lock_waiters(?:\\{[^}]*})? ([0-9.eE+-]+)$");
    private static final Duration AWAIT = Duration.ofSeconds(60);

    private HikariDataSource raw;
    private TcHarness tc;
    private ResourceManager rm;
    private DataSource ds;
    private final Map<String, AtomicInteger> registrations = new ConcurrentHashMap<>();
    private final List<String> begun = new ArrayList<>();

    @BeforeAll
    void start() throws Exception {
        raw = TestPostgres.get().dataSource(PgFixture.createDatabase("rm_lockwait"), 8);
        PgFixture.applyUndoLogDdl(raw);
        PgFixture.exec(raw, """
                CREATE TABLE account (id bigint PRIMARY KEY, balance bigint NOT NULL);
                INSERT INTO account VALUES (1, 100), (2, 200);
                """);
        tc = TcHarness.start();
    }

    @AfterAll
    void stop() {
        if (tc != null) {
            tc.close();
        }
        raw.close();
    }

    @AfterEach
    void everyGlobalTransactionEnds() {
        try {
            for (String xid : begun) {
                if (tc.status(xid) == GlobalStatus.BEGIN) {
                    tc.rollbackAndWait(xid);
                }
                assertThat(tc.awaitEnded(xid, Duration.ofSeconds(30)).getStatus()).as("status of " + xid)
                        .isIn(GlobalStatus.COMMITTED.toWire(), GlobalStatus.ROLLBACKED.toWire());
            }
            assertThat(tc.lockCount()).as("global locks left at the TC").isZero();
        } finally {
            begun.clear();
            registrations.clear();
            if (rm != null) {
                rm.close();
                rm = null;
            }
        }
    }

    @Test
    void aConflictingUpdateProceedsAsSoonAsTheHolderCommitsNotAfterABackoffStep() throws Exception {
        // Backoff steps of 10 s, 20 s, 40 s: the old RM would look again 10 s after its first conflict at the
        // soonest. A step that long leaves a busy machine seconds between the commit and the waiter's branch.
        Duration step = Duration.ofSeconds(10);
        connect(RmConfig.defaults().withLockRetry(step, 4));
        String holder = begin();
        update(holder, 1, 10);

        String waiter = begin();
        CompletableFuture<Long> proceeded = CompletableFuture.supplyAsync(() -> {
            try {
                update(waiter, 1, 1);
                return System.nanoTime();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        awaitCondition(() -> waitersAtTc() >= 1 || proceeded.isDone(), "the waiter queued at the TC");
        assertThat(proceeded).as("held while the row is taken").isNotDone();

        long committed = System.nanoTime();
        assertThat(GlobalStatus.fromWire(tc.tm().commit(holder).getStatus()).isCommitDecided()).isTrue();
        long after = proceeded.get(AWAIT.toMillis(), TimeUnit.MILLISECONDS) - committed;

        assertThat(Duration.ofNanos(after)).as("from the holder's commit to the waiter's branch").isLessThan(step);
        assertThat(registrations.get(waiter).get()).as("registration calls of the waiter: the TC held the one")
                .isEqualTo(1);
        assertThat(tc.commitAndWait(waiter)).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(PgFixture.rows(raw, "account WHERE id = 1", "id").get(0)).contains("balance=111");
        awaitCondition(() -> waitersAtTc() == 0, "no waiter left at the TC");
    }

    @Test
    void aWaiterPastItsDeadlineGetsTheConflictNamingTheHolder() throws Exception {
        // Budget: 200 + 400 ms (the pauses of three attempts); the TC holds the registration that long.
        connect(RmConfig.defaults().withLockRetry(Duration.ofMillis(200), 3));
        long budgetMs = RmConfig.defaults().withLockRetry(Duration.ofMillis(200), 3).lockWaitBudget().toMillis();
        assertThat(budgetMs).isEqualTo(600);
        String holder = begin();
        update(holder, 2, 5);

        String waiter = begin();
        long start = System.nanoTime();
        assertThatThrownBy(() -> update(waiter, 2, 1))
                .isInstanceOf(GlobalLockConflictException.class)
                .hasMessageContaining("account:2").hasMessageContaining(holder).hasMessageContaining("held for");
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

        assertThat(tookMs).as("waited out the budget").isGreaterThanOrEqualTo(budgetMs);
        assertThat(tookMs).as("not much past it (the TC answers at the deadline; a loaded machine adds its delays)")
                .isLessThan(budgetMs + 10_000);
        assertThat(registrations.get(waiter).get()).as("one call, held at the TC, instead of one per backoff step")
                .isEqualTo(1);
        assertThat(tc.branchIds(waiter)).isEmpty();
        assertThat(PgFixture.rows(raw, "account WHERE id = 2", "id").get(0)).contains("balance=205");
        assertThat(tc.commitAndWait(holder)).isEqualTo(GlobalStatus.COMMITTED);
        awaitCondition(() -> waitersAtTc() == 0, "no waiter left at the TC");
    }

    // ---- helpers ----

    private void connect(RmConfig config) {
        TcClient client = tc.freshTm();
        BranchCoordinator real = BranchCoordinator.of(client);
        rm = ResourceManager.builder(counting(real)).config(config).build();
        ds = rm.wrap(raw);
        rm.connect(tc.tcConfig("rm-lockwait-it"), 2);
        assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).as("RM stream welcomed by the TC").isTrue();
    }

    /** The real coordinator, counting registration calls per XID. */
    private BranchCoordinator counting(BranchCoordinator real) {
        return new ForwardingBranchCoordinator(real) {
            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId) {
                registrations.computeIfAbsent(xid, k -> new AtomicInteger()).incrementAndGet();
                return super.registerBranch(xid, resourceId, lockKeys, applicationData, clientId);
            }

            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs) {
                registrations.computeIfAbsent(xid, k -> new AtomicInteger()).incrementAndGet();
                return super.registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs);
            }

            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         long branchId) {
                registrations.computeIfAbsent(xid, k -> new AtomicInteger()).incrementAndGet();
                return super.registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs, branchId);
            }
        };
    }

    private String begin() {
        String xid = tc.begin(Duration.ofSeconds(120));
        begun.add(xid);
        return xid;
    }

    /** One local transaction of {@code xid}: adds {@code amount} to the account's balance. */
    private void update(String xid, long id, long amount) throws SQLException {
        GlobalWork.inTransaction(ds, xid, c -> {
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE account SET balance = balance + " + amount + " WHERE id = " + id);
            }
        });
    }

    /** The TC's gauge of registrations waiting for row locks. */
    private double waitersAtTc() {
        Matcher m = WAITERS.matcher(tc.get("/actuator/prometheus"));
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }

    private static void awaitCondition(BooleanSupplier condition, String what) {
        TcHarness.await(condition::getAsBoolean, AWAIT, () -> what);
    }
}
