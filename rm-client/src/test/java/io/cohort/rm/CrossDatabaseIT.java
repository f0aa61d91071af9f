package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcUnavailableException;
import io.cohort.protocol.GlobalStatus;
import io.cohort.rm.jdbc.ResourceManager;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One global transaction, one branch on PostgreSQL and one on MariaDB, with the real TC (a child
 * process): committed and rolled back (both tables compared whole), an RM process SIGKILLed between
 * its local commit and phase 2 on either side (the transaction finished once an RM for the resource
 * is back), and the TC SIGKILLed and restarted with branches open on both. After each test: the data
 * as decided on both sides, no undo log, no global lock, every global transaction final.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CrossDatabaseIT {

    private static final long INITIAL = 1_000;

    private TcHarness tc;
    private final Map<TestDb, Side> sides = new java.util.EnumMap<>(TestDb.class);
    private final List<String> xids = new ArrayList<>();

    /** One database and, while a test runs, the in-process RM serving it. */
    private final class Side {
        final TestDb db;
        final String url;
        final String resource;
        final HikariDataSource raw;
        ResourceManager rm;
        DataSource ds;

        Side(TestDb db) throws SQLException {
            this.db = db;
            this.url = db.createDatabase("rm_cross_" + db.name());
            this.resource = "cross-" + db.name().toLowerCase(java.util.Locale.ROOT);
            this.raw = db.dataSource(url, 6);
            for (String ddl : db.ddl()) {
                PgFixture.exec(raw, ddl);
            }
            PgFixture.exec(raw, "CREATE TABLE account (id BIGINT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance BIGINT NOT NULL)");
        }

        void seed() throws SQLException {
            db.truncate(raw, "account", "undo_log", "cohort_branch_decision");
            PgFixture.exec(raw, "INSERT INTO account VALUES (1, 'ann', " + INITIAL + "), (2, 'bob', " + INITIAL
                    + "), (3, 'cy', " + INITIAL + "), (4, 'dü 😀', " + INITIAL + ")");
        }

        void startRm() {
            rm = ResourceManager.builder(BranchCoordinator.of(tc.tm())).config(RmConfig.defaults()).build();
            ds = rm.wrap(raw, resource);
            rm.connect(tc.tcConfig("rm-cross-" + db.name()), 2);
            assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).as("%s's RM connected", db).isTrue();
        }

        void stopRm() {
            if (rm != null) {
                rm.close();
                rm = null;
            }
        }

        void run(String xid, String... statements) throws SQLException {
            GlobalWork.inTransaction(ds, xid, c -> {
                try (Statement s = c.createStatement()) {
                    for (String sql : statements) {
                        s.executeUpdate(sql);
                    }
                }
            });
        }

        List<List<String>> rows() throws SQLException {
            return PgFixture.rows(raw, "account", "id");
        }

        long balance(long id) throws SQLException {
            return PgFixture.count(raw, "SELECT balance FROM account WHERE id = " + id);
        }

        long undoLogs() throws SQLException {
            if (rm != null) {
                rm.flushUndoDeletes();
            }
            return PgFixture.count(raw, "SELECT count(*) FROM undo_log WHERE log_status = 0");
        }
    }

    @BeforeAll
    void start() throws Exception {
        Assumptions.assumeTrue(TestDb.MARIADB.available(), TestDb.MARIADB.unavailableReason());
        sides.put(TestDb.POSTGRES, new Side(TestDb.POSTGRES));
        sides.put(TestDb.MARIADB, new Side(TestDb.MARIADB));
        tc = startTc();
    }

    @AfterAll
    void stop() {
        if (tc != null) {
            tc.close();
        }
        sides.values().forEach(s -> s.raw.close());
    }

    @BeforeEach
    void seed() throws SQLException {
        tc.freshTm();
        xids.clear();
        for (Side s : sides.values()) {
            s.seed();
        }
    }

    @AfterEach
    void stopRms() {
        sides.values().forEach(Side::stopRm);
        if (!tc.process.isAlive() || tc.lockCount() > 0) {
            tc.close(); // a failed test's leftovers would fail the next ones too: a new TC on a new store
            tc = startTc();
        }
    }

    private static TcHarness startTc() {
        return TcHarness.start("--cohort.tc.store.embedded.fsync=true", "--cohort.tc.recovery.command-timeout=3s");
    }

    private Side pg() {
        return sides.get(TestDb.POSTGRES);
    }

    private Side maria() {
        return sides.get(TestDb.MARIADB);
    }

    private String begin(String name) {
        String xid = tc.tm().begin(name, Duration.ofSeconds(120), null);
        xids.add(xid);
        return xid;
    }

    // ---- without faults ----

    @ParameterizedTest(name = "global {0}")
    @ValueSource(strings = {"commit", "rollback"})
    void aTransferWithABranchOnEachDatabaseEndsTheSameOnBoth(String decision) throws Exception {
        pg().startRm();
        maria().startRm();
        List<List<String>> pgBefore = pg().rows();
        List<List<String>> mariaBefore = maria().rows();

        String xid = begin("cross-transfer");
        pg().run(xid, "UPDATE account SET balance = balance - 100 WHERE id = 1",
                "INSERT INTO account VALUES (10, 'new on pg', 7)", "DELETE FROM account WHERE id = 3");
        maria().run(xid, "UPDATE account SET balance = balance + 100, owner = 'ann 😀' WHERE id = 1",
                "INSERT INTO account VALUES (20, 'new on maria', 9)", "DELETE FROM account WHERE id = 4");
        assertThat(tc.branchIds(xid).stream().distinct()).as("a branch on each database").hasSize(2);
        List<List<String>> pgWritten = pg().rows();
        List<List<String>> mariaWritten = maria().rows();
        assertThat(pgWritten).isNotEqualTo(pgBefore);
        assertThat(mariaWritten).isNotEqualTo(mariaBefore);

        if (decision.equals("commit")) {
            assertThat(tc.commitAndWait(xid)).isEqualTo(GlobalStatus.COMMITTED);
            assertThat(pg().rows()).isEqualTo(pgWritten);
            assertThat(maria().rows()).isEqualTo(mariaWritten);
        } else {
            assertThat(tc.rollbackAndWait(xid)).as(tc.tm().status(xid).getReason()).isEqualTo(GlobalStatus.ROLLBACKED);
            assertThat(pg().rows()).as("PostgreSQL's table, whole").isEqualTo(pgBefore);
            assertThat(maria().rows()).as("MariaDB's table, whole").isEqualTo(mariaBefore);
        }
        assertNothingLeft();
    }

    // ---- an RM process killed between its local commit and phase 2 ----

    @ParameterizedTest(name = "RM on {0} killed, global {1}")
    @CsvSource({"MARIADB, rollback", "MARIADB, commit", "POSTGRES, rollback", "POSTGRES, commit"})
    void anRmKilledAfterItsLocalCommitIsFinishedOnceAnRmForItsDatabaseIsBack(TestDb killedDb, String decision)
            throws Exception {
        Side killed = sides.get(killedDb);
        Side survivor = killedDb == TestDb.POSTGRES ? maria() : pg();
        survivor.startRm();
        String xid = begin("cross-crash");
        survivor.run(xid, "UPDATE account SET balance = balance - 100 WHERE id = 2");

        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), RmChild.class.getName(),
                tc.process.grpcAddress(), killed.url, killedDb.user(), killedDb.password(), killed.resource, xid,
                "UPDATE account SET balance = balance + 100 WHERE id = 2")
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                assertThat(out.readLine()).as("the RM process's phase 1").isEqualTo("PHASE1-DONE");
            }
            assertThat(killed.balance(2)).as("committed locally").isEqualTo(INITIAL + 100);
            assertThat(killed.undoLogs()).as("no undo-log row: the TC holds the branch's images").isZero();
        } finally {
            child.destroyForcibly().waitFor(); // SIGKILL
        }

        boolean commit = decision.equals("commit");
        if (commit) {
            tc.tm().commit(xid);
        } else {
            tc.tm().rollback(xid);
        }
        // The killed RM's branch cannot finish until an RM serves its database again: the TC retries.
        GlobalStatus retrying = commit ? GlobalStatus.COMMIT_RETRYING : GlobalStatus.ROLLBACK_RETRYING;
        tc.awaitStatus(xid, retrying, Duration.ofSeconds(30)); // no RM for the killed database's branch
        assertThat(killed.balance(2)).as("nothing undone without an RM").isEqualTo(INITIAL + 100);

        killed.startRm(); // the service restarted: an RM for the same resource
        GlobalStatus ended = GlobalStatus.fromWire(tc.awaitEnded(xid, Duration.ofSeconds(60)).getStatus());
        assertThat(ended).isEqualTo(commit ? GlobalStatus.COMMITTED : GlobalStatus.ROLLBACKED);
        assertThat(killed.balance(2)).isEqualTo(commit ? INITIAL + 100 : INITIAL);
        assertThat(survivor.balance(2)).isEqualTo(commit ? INITIAL - 100 : INITIAL);
        assertNothingLeft();
    }

    // ---- the TC killed and restarted with branches open on both databases ----

    @Test
    void aTcKilledWithBranchesOpenOnBothDatabasesFinishesThemAfterItsRestart() throws Exception {
        pg().startRm();
        maria().startRm();
        String toRollBack = begin("before-crash-1");
        String toCommit = begin("before-crash-2");
        String duringOutage = begin("during-outage");
        pg().run(toRollBack, "UPDATE account SET balance = balance - 10 WHERE id = 1");
        maria().run(toRollBack, "UPDATE account SET balance = balance + 10 WHERE id = 1");
        pg().run(toCommit, "UPDATE account SET balance = balance - 20 WHERE id = 2");
        maria().run(toCommit, "UPDATE account SET balance = balance + 20 WHERE id = 2", "DELETE FROM account WHERE id = 3");
        List<List<String>> pgBefore = pg().rows();

        tc.process.kill();
        assertThatThrownBy(() -> maria().run(duringOutage, "UPDATE account SET balance = 0 WHERE id = 4"))
                .isInstanceOf(SQLException.class).hasMessageContaining("Could not register the branch");
        assertThat(maria().balance(4)).as("MariaDB's local transaction was rolled back").isEqualTo(INITIAL);
        tc.process.start();

        awaitTrue(() -> tc.get("/api/v1/rms").contains(pg().resource) && tc.get("/api/v1/rms").contains(maria().resource),
                Duration.ofSeconds(60), "both RMs reconnected on their own");
        assertThat(whenTcAnswers(tc::lockCount)).as("locks survived the crash").isEqualTo(5);

        whenTcAnswers(() -> {
            tc.tm().rollback(toRollBack);
            return null;
        });
        tc.tm().commit(toCommit);
        pg().run(duringOutage, "UPDATE account SET balance = balance - 5 WHERE id = 4");
        maria().run(duringOutage, "UPDATE account SET balance = balance + 5 WHERE id = 4");
        tc.tm().commit(duringOutage);
        assertThat(tc.awaitEnded(toRollBack, Duration.ofSeconds(30)).getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(tc.awaitEnded(toCommit, Duration.ofSeconds(30)).getStatus()).isEqualTo(GlobalStatus.COMMITTED.toWire());
        assertThat(tc.awaitEnded(duringOutage, Duration.ofSeconds(30)).getStatus()).isEqualTo(GlobalStatus.COMMITTED.toWire());

        assertThat(pgBefore).as("what PostgreSQL had before the crash").isNotEmpty();
        assertThat(balances(pg())).isEqualTo(Map.of(1L, INITIAL, 2L, INITIAL - 20, 3L, INITIAL, 4L, INITIAL - 5));
        assertThat(balances(maria())).isEqualTo(Map.of(1L, INITIAL, 2L, INITIAL + 20, 4L, INITIAL + 5));
        assertNothingLeft();
    }

    // ---- helpers ----

    private static Map<Long, Long> balances(Side side) throws SQLException {
        Map<Long, Long> out = new java.util.TreeMap<>();
        try (Connection c = side.raw.getConnection(); Statement s = c.createStatement();
             var rs = s.executeQuery("SELECT id, balance FROM account")) {
            while (rs.next()) {
                out.put(rs.getLong(1), rs.getLong(2));
            }
        }
        return out;
    }

    /** Data as decided is each test's own check; this: every global transaction final, no undo log, no global lock. */
    private void assertNothingLeft() throws Exception {
        for (String xid : xids) {
            assertThat(GlobalStatus.fromWire(tc.awaitEnded(xid, Duration.ofSeconds(30)).getStatus())).as(xid)
                    .isIn(GlobalStatus.COMMITTED, GlobalStatus.ROLLBACKED);
        }
        for (Side s : sides.values()) {
            awaitTrue(() -> s.undoLogs() == 0, Duration.ofSeconds(20), "no undo log left on " + s.db);
        }
        assertThat(tc.lockCount()).as("global locks left").isZero();
    }

    /** A call to a TC that has just restarted on a busy machine may miss its first deadlines: retried. */
    private static <T> T whenTcAnswers(Supplier<T> call) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            try {
                return call.get();
            } catch (TcUnavailableException | java.io.UncheckedIOException notYet) {
                if (System.nanoTime() > deadline) {
                    throw notYet;
                }
                Thread.sleep(50);
            }
        }
    }

    private static void awaitTrue(TcHarness.Condition check, Duration max, String what) {
        TcHarness.await(check, max, () -> what);
    }
}
