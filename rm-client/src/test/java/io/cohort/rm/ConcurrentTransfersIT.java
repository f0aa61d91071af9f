package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.rm.jdbc.ResourceManager;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.LoggerFactory;

/**
 * Transfers under concurrency, through the real RM proxy and a real TC process, on two PostgreSQL
 * databases ({@link MariaDbConcurrentTransfersIT}: both on MariaDB; {@link MixedConcurrentTransfersIT}:
 * bank A on MariaDB, bank B on PostgreSQL): {@value #WORKERS} clients run {@value #TRANSFERS}
 * transfers, each debiting an account of bank A and crediting one of bank B, under three-phase and
 * under two-phase commit, so the RM's batched CanCommit, PreCommit and phase-2 deletes run beside
 * other transfers' phase 1. Each client owns its own accounts, so no two concurrent transfers want
 * the same row: any transfer that does not commit, and any warning of the RM (a batch that failed
 * and was taken one branch at a time, a step that failed), is a defect of the coordination.
 *
 * <p>After the run: every transfer the client was told committed is applied in both banks and none
 * told rolled back is, the money is constant and no balance negative, every global transaction is
 * final, no undo log and no global lock is left.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConcurrentTransfersIT {

    private static final int WORKERS = 16;
    private static final int ACCOUNTS_PER_WORKER = 4;
    private static final int ACCOUNTS = WORKERS * ACCOUNTS_PER_WORKER;
    private static final int TRANSFERS = 192;
    private static final long INITIAL = 1_000;
    private static final Duration GLOBAL_TIMEOUT = Duration.ofSeconds(60);

    private TcHarness tc;
    private Bank a;
    private Bank b;
    private final RmWarnings warnings = new RmWarnings();

    /** The RM's warnings and errors while a test runs: in a run without faults there must be none. */
    private static final class RmWarnings extends AppenderBase<ILoggingEvent> {
        final ConcurrentLinkedQueue<String> seen = new ConcurrentLinkedQueue<>();

        @Override
        protected void append(ILoggingEvent e) {
            if (e.getLevel().isGreaterOrEqual(Level.WARN)) {
                seen.add(e.getLoggerName() + ": " + e.getFormattedMessage());
            }
        }
    }

    private final class Bank implements AutoCloseable {
        final String name;
        final TestDb db;
        final HikariDataSource raw;
        ResourceManager rm;
        DataSource ds;

        Bank(String name, TestDb db) throws SQLException {
            this.name = name;
            this.db = db;
            raw = db.createBank("rm_concurrent_" + name, WORKERS + 4);
        }

        void startRm() {
            rm = ResourceManager.builder(BranchCoordinator.of(tc.tm())).config(RmConfig.defaults()).build();
            ds = rm.wrap(raw, "concurrent-" + name);
            rm.connect(tc.tcConfig("rm-concurrent-" + name), 2);
            assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).as("bank %s's RM connected", name).isTrue();
        }

        void update(String xid, String sql) throws SQLException {
            String previous = XidContext.bind(xid);
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                c.setAutoCommit(false);
                assertThat(s.executeUpdate(sql)).isEqualTo(1);
                c.commit();
            } finally {
                XidContext.restore(previous);
            }
        }

        Map<Long, Long> balances() throws SQLException {
            Map<Long, Long> out = new HashMap<>();
            try (Connection c = raw.getConnection(); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT id, balance FROM account")) {
                while (rs.next()) {
                    out.put(rs.getLong(1), rs.getLong(2));
                }
            }
            return out;
        }

        long undoLogs() throws SQLException {
            rm.flushUndoDeletes();
            return PgFixture.count(raw, "SELECT count(*) FROM undo_log");
        }

        void stopRm() {
            if (rm != null) {
                rm.close();
                rm = null;
            }
        }

        @Override
        public void close() {
            stopRm();
            raw.close();
        }
    }

    /**
     * A transfer as the client saw it: the accounts, the amount, and what the TC told it — committed
     * (true), rolled back (false), or not yet decided (null: its commit's answer was lost while the
     * votes were collected, and the rollback asked after it came too late to decide).
     */
    private record Transfer(String xid, long from, long to, long amount, Boolean told, String why) {
        boolean toldCommitted() {
            return Boolean.TRUE.equals(told);
        }
    }

    /** The server bank {@code name}'s database is on; a subclass runs these tests on another. */
    TestDb databaseOf(String bank) {
        return TestDb.POSTGRES;
    }

    @BeforeAll
    void start() throws Exception {
        for (String bank : new String[] {"a", "b"}) {
            Assumptions.assumeTrue(databaseOf(bank).available(), databaseOf(bank).unavailableReason());
        }
        tc = TcHarness.start("--cohort.tc.three-phase.vote-timeout=60s");
        a = new Bank("a", databaseOf("a"));
        b = new Bank("b", databaseOf("b"));
        warnings.start();
    }

    @AfterAll
    void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {a, b, tc}) {
            if (c != null) {
                c.close();
            }
        }
    }

    @BeforeEach
    void freshTablesAndRms() throws Exception {
        for (Bank bank : new Bank[] {a, b}) {
            bank.db.truncate(bank.raw, "account", "undo_log", "cohort_branch_decision");
            bank.db.insertAccounts(bank.raw, 1, ACCOUNTS, INITIAL);
            bank.startRm();
        }
        warnings.seen.clear();
        ((Logger) LoggerFactory.getLogger("io.cohort.rm")).addAppender(warnings);
    }

    @AfterEach
    void stopRms() {
        ((Logger) LoggerFactory.getLogger("io.cohort.rm")).detachAppender(warnings);
        a.stopRm();
        b.stopRm();
    }

    @ParameterizedTest
    @EnumSource(value = TransactionProtocol.class, names = {"THREE_PHASE", "TWO_PHASE"})
    void concurrentTransfersOnDistinctAccountsAllCommitWithoutTheCoordinationAbortingAny(TransactionProtocol protocol)
            throws Exception {
        ConcurrentLinkedQueue<Transfer> done = new ConcurrentLinkedQueue<>();
        AtomicInteger next = new AtomicInteger();
        ExecutorService clients = Executors.newFixedThreadPool(WORKERS);
        long start = System.nanoTime();
        try {
            List<Future<?>> running = new ArrayList<>();
            for (int w = 0; w < WORKERS; w++) {
                long firstAccount = 1 + (long) w * ACCOUNTS_PER_WORKER;
                running.add(clients.submit(() -> {
                    while (next.getAndIncrement() < TRANSFERS) {
                        done.add(transfer(protocol, firstAccount));
                    }
                    return null;
                }));
            }
            for (Future<?> f : running) {
                f.get(GLOBAL_TIMEOUT.toSeconds() * TRANSFERS / WORKERS, TimeUnit.SECONDS);
            }
        } finally {
            clients.shutdownNow();
        }
        long millis = (System.nanoTime() - start) / 1_000_000;

        List<String> aborted = done.stream().filter(t -> !t.toldCommitted()).map(t -> t.xid() + ": " + t.why()).toList();
        System.out.printf("%s on %s/%s: %d transfers in %d ms, %d aborted, %d RM warnings%n", protocol,
                databaseOf("a"), databaseOf("b"), done.size(), millis, aborted.size(), warnings.seen.size());

        Map<Long, Long> expectedA = new HashMap<>();
        Map<Long, Long> expectedB = new HashMap<>();
        for (long id = 1; id <= ACCOUNTS; id++) {
            expectedA.put(id, INITIAL);
            expectedB.put(id, INITIAL);
        }
        for (Transfer t : done) {
            GlobalStatusResponse end = tc.awaitEnded(t.xid(), GLOBAL_TIMEOUT);
            GlobalStatus status = GlobalStatus.fromWire(end.getStatus());
            assertThat(status).as("%s ends final (%s)", t.xid(), end.getReason())
                    .isIn(GlobalStatus.COMMITTED, GlobalStatus.ROLLBACKED);
            if (t.told() != null) {
                assertThat(status).as("%s, told %s, ends as told (%s)", t.xid(), t.toldCommitted() ? "committed"
                        : "rolled back", end.getReason()).isEqualTo(t.toldCommitted() ? GlobalStatus.COMMITTED
                        : GlobalStatus.ROLLBACKED);
            }
            assertThat(end.getHeuristic()).as("%s heuristic", t.xid()).isFalse();
            if (status == GlobalStatus.COMMITTED) {
                expectedA.merge(t.from(), -t.amount(), Long::sum);
                expectedB.merge(t.to(), t.amount(), Long::sum);
            }
        }
        assertThat(done).hasSize(TRANSFERS);
        assertThat(a.balances()).as("bank A: exactly the committed transfers applied").isEqualTo(expectedA);
        assertThat(b.balances()).as("bank B: exactly the committed transfers applied").isEqualTo(expectedB);
        assertThat(a.balances().values()).allMatch(balance -> balance >= 0);
        TcHarness.await(() -> a.undoLogs() == 0 && b.undoLogs() == 0, Duration.ofSeconds(20), () -> "no undo log left");
        assertThat(tc.lockCount()).as("global locks left").isZero();

        assertThat(aborted).as("transfers the coordination aborted (each client owns its accounts: nothing else can)")
                .isEmpty();
        assertThat(warnings.seen).as("the RM's warnings: batches taken one branch at a time, failed steps").isEmpty();
    }

    /** One transfer between two of the client's own accounts; whatever fails, the client asks for a rollback. */
    private Transfer transfer(TransactionProtocol protocol, long firstAccount) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        long from = firstAccount + random.nextInt(ACCOUNTS_PER_WORKER);
        long to = firstAccount + random.nextInt(ACCOUNTS_PER_WORKER);
        long amount = 1 + random.nextInt(9);
        String xid = tc.tm().begin("concurrent-" + protocol, GLOBAL_TIMEOUT, protocol);
        try {
            a.update(xid, "UPDATE account SET balance = balance - " + amount + " WHERE id = " + from);
            b.update(xid, "UPDATE account SET balance = balance + " + amount + " WHERE id = " + to);
            return told(xid, from, to, amount, tc.tm().commit(xid), "");
        } catch (SQLException | RuntimeException e) {
            // The rollback's answer tells the outcome: a commit whose answer was lost may have been decided.
            return told(xid, from, to, amount, tc.tm().rollback(xid), e + "; then ");
        }
    }

    private static Transfer told(String xid, long from, long to, long amount, GlobalStatusResponse answer, String before) {
        GlobalStatus status = GlobalStatus.fromWire(answer.getStatus());
        Boolean told = switch (status.phase()) {
            case COMMITTING -> true;
            case ROLLING_BACK -> false;
            case FINISHED -> status == GlobalStatus.COMMITTED;
            default -> null;
        };
        return new Transfer(xid, from, to, amount, told, before + status + ": " + answer.getReason());
    }
}
