package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.protocol.GlobalStatus;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import io.cohort.testsupport.TestPostgres;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Faults with real processes: the TC as a child process (killed and restarted with SIGKILL), an RM
 * in a child JVM killed between its local commit and phase 2, and concurrent global transactions on
 * the same rows. After each test: every global transaction ended, no global lock and no undo log left.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RmFaultIT {

    private static final String RESOURCE = "fault-db";
    private static final int ACCOUNTS = 4;
    private static final long INITIAL = 1_000;

    private TcHarness tc;
    private HikariDataSource raw;
    private String url;
    private ResourceManager rm;
    private DataSource ds;

    @BeforeAll
    void start() throws Exception {
        url = PgFixture.createDatabase("rm_fault");
        raw = TestPostgres.get().dataSource(url, 12);
        PgFixture.applyUndoLogDdl(raw);
        PgFixture.exec(raw, "CREATE TABLE account (id bigint PRIMARY KEY, balance bigint NOT NULL)");
        tc = TcHarness.start("--cohort.tc.store.embedded.fsync=true", "--cohort.tc.recovery.command-timeout=3s");
    }

    @AfterAll
    void stop() {
        tc.close();
        raw.close();
    }

    @BeforeEach
    void seed() throws SQLException {
        tc.freshTm(); // this test's own: an earlier test's TC outage leaves nothing in it
        PgFixture.exec(raw, "TRUNCATE account, undo_log; INSERT INTO account SELECT g, " + INITIAL
                + " FROM generate_series(1, " + ACCOUNTS + ") g");
    }

    @AfterEach
    void closeRm() {
        if (rm != null) {
            rm.close();
            rm = null;
        }
    }

    private ResourceManager newRm(RmConfig config) {
        ResourceManager m = ResourceManager.builder(BranchCoordinator.of(tc.tm())).config(config).build();
        ds = m.wrap(raw, RESOURCE);
        m.connect(tc.tcConfig("rm-fault-it"), 2);
        assertThat(m.awaitConnected(TcHarness.CONNECT_WAIT)).isTrue();
        return m;
    }

    // ---- concurrency: global locks serialize ----

    @Test
    void concurrentTransfersOnTheSameRowsSerializeThroughGlobalLocksAndLoseNoUpdate() throws Exception {
        rm = newRm(RmConfig.defaults().withLockRetry(Duration.ofMillis(5), 10));
        int threads = 6;
        int perThread = 12;
        // A transfer that gives up on a global lock is tried again, as an application would: a holder
        // that is rolling back makes every waiter give up at once, and on a loaded machine its phase 2
        // can take long enough that, untried again, almost every transfer would roll back.
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        AtomicInteger gaveUp = new AtomicInteger();
        Map<Long, Long> expected = new ConcurrentHashMap<>();
        for (long id = 1; id <= ACCOUNTS; id++) {
            expected.put(id, INITIAL);
        }
        AtomicInteger committed = new AtomicInteger();
        AtomicInteger rolledBack = new AtomicInteger();
        List<String> xids = java.util.Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Future<?>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            futures.add(pool.submit(() -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                for (int i = 0; i < perThread; i++) {
                    long from = random.nextLong(1, ACCOUNTS + 1);
                    long to = from % ACCOUNTS + 1;
                    long amount = random.nextLong(1, 50);
                    boolean abort = random.nextInt(5) == 0;
                    for (int tries = 1; !transfer(xids, from, to, amount, abort) && !abort; tries++) {
                        gaveUp.incrementAndGet();
                        assertThat(System.nanoTime()).as("transfers committed within 3 minutes").isLessThan(deadline);
                        // The application's backoff before it tries again: growing, jittered so the threads spread out.
                        Thread.sleep(random.nextLong(10, 10L << Math.min(tries, 7)));
                    }
                    if (!abort) {
                        expected.merge(from, -amount, Long::sum);
                        expected.merge(to, amount, Long::sum);
                        committed.incrementAndGet();
                    } else {
                        rolledBack.incrementAndGet();
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : futures) {
            f.get(5, TimeUnit.MINUTES);
        }
        pool.shutdown();
        for (String xid : xids) {
            assertThat(tc.awaitEnded(xid, Duration.ofSeconds(30)).getStatus()).as(xid)
                    .isIn(GlobalStatus.COMMITTED.toWire(), GlobalStatus.ROLLBACKED.toWire());
        }
        System.out.printf("concurrent transfers: %d committed, %d rolled back as asked, %d gave up on a lock%n",
                committed.get(), rolledBack.get(), gaveUp.get());
        assertThat(committed.get()).as("transfers that committed").isGreaterThanOrEqualTo(threads);
        assertThat(rolledBack.get()).isPositive();
        assertThat(balances()).isEqualTo(expected);
        assertThat(balances().values().stream().mapToLong(Long::longValue).sum()).isEqualTo(ACCOUNTS * INITIAL);
        assertNothingLeft();
    }

    /**
     * One transfer in a global transaction of two branches (debit and credit, separate local
     * transactions), committed unless {@code abort}; false when it rolled back (asked to, or a branch
     * gave up on a global lock or met a deadlock).
     */
    private boolean transfer(List<String> xids, long from, long to, long amount, boolean abort) {
        String xid = tc.tm().begin("transfer", Duration.ofSeconds(30), null);
        xids.add(xid);
        try {
            update(xid, "UPDATE account SET balance = balance - " + amount + " WHERE id = " + from);
            update(xid, "UPDATE account SET balance = balance + " + amount + " WHERE id = " + to);
        } catch (SQLException lockOrDeadlock) {
            tc.tm().rollback(xid);
            return false;
        }
        if (abort) {
            tc.tm().rollback(xid);
            return false;
        }
        tc.tm().commit(xid);
        return true;
    }

    private void update(String xid, String sql) throws SQLException {
        GlobalWork.inTransaction(ds, xid, c -> {
            try (Statement s = c.createStatement()) {
                s.executeUpdate(sql);
            }
        });
    }

    // ---- an RM process killed between its local commit and phase 2 ----

    @ParameterizedTest(name = "global {0}")
    @ValueSource(strings = {"rollback", "commit"})
    void anRmKilledAfterItsLocalCommitIsFinishedByTheTcWhenAnRmWithTheSameResourceComesBack(String decision)
            throws Exception {
        // The child is a cold JVM started on a maybe busy machine: its phase 1 must not meet the timeout.
        String xid = tc.tm().begin("crash", Duration.ofMinutes(5), null);
        Process child = childAfterPhaseOne(xid, "UPDATE account SET balance = balance + 100 WHERE id = 1");
        assertThat(balances().get(1L)).isEqualTo(INITIAL + 100);
        assertThat(PgFixture.count(raw, "SELECT count(*) FROM undo_log")).as("the TC holds the images").isZero();

        child.destroyForcibly().waitFor();

        if (decision.equals("rollback")) {
            tc.tm().rollback(xid);
        } else {
            tc.tm().commit(xid);
        }
        // No RM for the branch: the TC's phase 2 fails and it retries, leaving the database as it is.
        tc.awaitStatus(xid, decision.equals("rollback") ? GlobalStatus.ROLLBACK_RETRYING : GlobalStatus.COMMIT_RETRYING,
                Duration.ofSeconds(60));
        assertThat(balances().get(1L)).as("nothing undone without an RM").isEqualTo(INITIAL + 100);

        rm = newRm(RmConfig.defaults());
        GlobalStatus ended = GlobalStatus.fromWire(tc.awaitEnded(xid, Duration.ofSeconds(30)).getStatus());
        if (decision.equals("rollback")) {
            assertThat(ended).isEqualTo(GlobalStatus.ROLLBACKED);
            assertThat(balances().get(1L)).isEqualTo(INITIAL);
        } else {
            assertThat(ended).isEqualTo(GlobalStatus.COMMITTED);
            assertThat(balances().get(1L)).isEqualTo(INITIAL + 100);
        }
        assertNothingLeft();
    }

    // ---- an RM process killed with undo-log deletes still queued ----

    @Test
    void undoLogsLeftByAKilledRmAreDeletedByTheNextRmOnceTheirTransactionCommittedOrIsLongForgotten() throws Exception {
        String committed = tc.tm().begin("lost-delete", Duration.ofMinutes(5), null); // a cold child, as above
        // The child flushes its deletes hourly: at the kill, its committed branch's delete is still queued.
        Process child = childAfterPhaseOne(committed, "UPDATE account SET balance = balance + 100 WHERE id = 1", "PT1H");
        tc.tm().commit(committed);
        assertThat(tc.awaitEnded(committed, Duration.ofSeconds(120)).getStatus()).as("the child answered the commit")
                .isEqualTo(GlobalStatus.COMMITTED.toWire());
        // Rows the check must leave: a transaction still running, one no TC knows; and one no TC knows,
        // older than the marker retention (a day), which it deletes.
        String running = tc.tm().begin("still-running", Duration.ofSeconds(300), null);
        String prefix = running.substring(0, running.lastIndexOf(':') + 1);
        String unknown = prefix + "987654321";
        String unknownAndOld = prefix + "987654322";
        PgFixture.exec(raw, "INSERT INTO undo_log (xid, branch_id, rollback_info, log_status) VALUES ('" + running
                + "', 1, '\\x00', 0), ('" + unknown + "', 1, '\\x00', 0)");
        PgFixture.exec(raw, "INSERT INTO undo_log (xid, branch_id, rollback_info, log_status, created) VALUES ('"
                + unknownAndOld + "', 1, '\\x00', 0, now() - interval '25 hours')");
        child.destroyForcibly().waitFor();
        assertThat(undoLogXids()).containsExactlyInAnyOrder(committed, running, unknown, unknownAndOld);

        rm = newRm(RmConfig.defaults());
        // Checked soon after the wrapping, and again every 10 s while it cannot finish.
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (undoLogXids().size() > 2 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(undoLogXids()).as("the committed branch's leftover and the old unknown one deleted, nothing else")
                .containsExactlyInAnyOrder(running, unknown);
        assertThat(balances().get(1L)).isEqualTo(INITIAL + 100);
        assertThat(RmInternals.checkLeftoverUndoLogs(rm, RESOURCE)).as("a check now")
                .isEqualTo(new RmInternals.LeftoverCheck(0, 0, 1, 1));

        tc.tm().commit(running);
        assertThat(RmInternals.checkLeftoverUndoLogs(rm, RESOURCE)).as("a check once the running one committed")
                .isEqualTo(new RmInternals.LeftoverCheck(1, 0, 0, 1));
        assertThat(undoLogXids()).containsExactly(unknown);
        PgFixture.exec(raw, "DELETE FROM undo_log");
    }

    // ---- the TC killed and restarted while the RM is connected ----

    @Test
    void theRmReconnectsToARestartedTcAndPhaseTwoResumes() throws Exception {
        rm = newRm(RmConfig.defaults());
        // Timeouts longer than a TC restart on a busy machine (up to minutes), which is not what is tested.
        String toRollBack = tc.tm().begin("before-crash-1", Duration.ofMinutes(10), null);
        String toCommit = tc.tm().begin("before-crash-2", Duration.ofMinutes(10), null);
        String duringOutage = tc.tm().begin("during-outage", Duration.ofMinutes(10), null);
        update(toRollBack, "UPDATE account SET balance = balance - 10 WHERE id = 1");
        update(toCommit, "UPDATE account SET balance = balance + 20 WHERE id = 2");

        tc.process.kill();
        assertThatThrownBy(() -> update(duringOutage, "UPDATE account SET balance = 0 WHERE id = 3"))
                .isInstanceOf(SQLException.class).hasMessageContaining("Could not register the branch");
        assertThat(balances().get(3L)).as("the local transaction was rolled back").isEqualTo(INITIAL);
        tc.process.start();

        long deadline = System.nanoTime() + TcHarness.CONNECT_WAIT.toNanos();
        while (!tc.get("/api/v1/rms").contains(RESOURCE) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(tc.get("/api/v1/rms")).as("the RM reconnected on its own").contains(RESOURCE);
        assertThat(tc.lockCount()).as("locks survived the crash").isEqualTo(2);

        tc.tm().rollback(toRollBack);
        tc.tm().commit(toCommit);
        update(duringOutage, "UPDATE account SET balance = balance + 5 WHERE id = 3");
        tc.tm().commit(duringOutage);
        assertThat(tc.awaitEnded(toRollBack, Duration.ofSeconds(30)).getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(tc.awaitEnded(toCommit, Duration.ofSeconds(30)).getStatus()).isEqualTo(GlobalStatus.COMMITTED.toWire());
        assertThat(tc.awaitEnded(duringOutage, Duration.ofSeconds(30)).getStatus()).isEqualTo(GlobalStatus.COMMITTED.toWire());
        assertThat(balances()).isEqualTo(Map.of(1L, INITIAL, 2L, INITIAL + 20, 3L, INITIAL + 5, 4L, INITIAL));
        assertNothingLeft();
    }

    @Test
    void aBranchRegistersRightAfterATcRestartWhileTheRmsStreamStillWaitsToReconnect() throws Exception {
        // The RM's command stream goes through a proxy, its registrations straight to the TC: the test
        // decides when the stream can reach the restarted TC again.
        try (TcProxy streamProxy = new TcProxy(tc.process.grpcPort())) {
            rm = ResourceManager.builder(BranchCoordinator.of(tc.tm())).config(RmConfig.defaults()).build();
            ds = rm.wrap(raw, RESOURCE);
            rm.connect(new io.cohort.client.TcClientConfig(streamProxy.address(), "rm-fault-it", "",
                    Duration.ofSeconds(5), 3, Duration.ofMillis(100)), 2);
            assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).isTrue();

            streamProxy.set(TcProxy.Mode.CUT);
            tc.process.kill();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (rm.connection().connectedReplicas() > 0) {
                assertThat(System.nanoTime()).as("the RM notices the TC is gone").isLessThan(deadline);
                Thread.sleep(20);
            }
            long lostAt = System.nanoTime();
            tc.process.start();
            String xid = beginOnceTheTcAnswers();
            // Failed attempts 100 + 200 + 400 + 800 + 1600 ms apart: the stream's next one is at least 3.2 s
            // away. (A lower bound on the outage, not a wait for the machine.)
            while (System.nanoTime() - lostAt < Duration.ofMillis(3_200).toNanos()) {
                Thread.sleep(20);
            }
            streamProxy.heal();

            update(xid, "UPDATE account SET balance = balance + 7 WHERE id = 4");
            tc.tm().commit(xid);
            assertThat(tc.awaitEnded(xid, Duration.ofSeconds(30)).getStatus()).isEqualTo(GlobalStatus.COMMITTED.toWire());
            assertThat(balances().get(4L)).isEqualTo(INITIAL + 7);
            assertNothingLeft();
        }
    }

    // ---- helpers ----

    /**
     * An RM in a child JVM that joined {@code xid} with {@code sql} (phase 1 done: branch registered, undo
     * log written, local commit) and now waits to be killed; {@code deleteInterval}: its
     * cohort.rm.undo.delete-interval (ISO-8601), if given.
     */
    private Process childAfterPhaseOne(String xid, String sql, String... deleteInterval) throws Exception {
        TestPostgres pg = TestPostgres.get();
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", // starts sooner; lives a second
                "-cp", System.getProperty("java.class.path"), RmChild.class.getName(),
                tc.process.grpcAddress(), url, pg.user(), pg.password(), RESOURCE, xid, sql));
        command.addAll(List.of(deleteInterval));
        Process child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        assertThat(out.readLine()).isEqualTo("PHASE1-DONE");
        return child;
    }

    private List<String> undoLogXids() throws SQLException {
        List<String> xids = new ArrayList<>();
        try (java.sql.Connection c = raw.getConnection(); Statement s = c.createStatement();
             java.sql.ResultSet rs = s.executeQuery("SELECT xid FROM undo_log WHERE log_status = 0")) {
            while (rs.next()) {
                xids.add(rs.getString(1));
            }
        }
        return xids;
    }

    /** Begins a global transaction; a TC just restarted on a busy machine may miss the first deadlines. */
    private String beginOnceTheTcAnswers() throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            try {
                return tc.tm().begin("right-after-restart", Duration.ofSeconds(60), null);
            } catch (io.cohort.client.TcUnavailableException notYet) {
                if (System.nanoTime() > deadline) {
                    throw notYet;
                }
                Thread.sleep(50);
            }
        }
    }

    private void assertNothingLeft() throws SQLException {
        rm.flushUndoDeletes();
        assertThat(PgFixture.count(raw, "SELECT count(*) FROM undo_log WHERE log_status = 0")).as("undo logs left").isZero();
        assertThat(tc.lockCount()).as("global locks left").isZero();
    }

    private Map<Long, Long> balances() throws SQLException {
        Map<Long, Long> out = new java.util.TreeMap<>();
        for (List<String> row : PgFixture.rows(raw, "account", "id")) {
            out.put(Long.parseLong(row.get(0).substring(3)), Long.parseLong(row.get(1).substring(8)));
        }
        return out;
    }
}
