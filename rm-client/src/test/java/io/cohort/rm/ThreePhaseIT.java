package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Three-phase commit end to end: the real TC as a child process (killed with SIGKILL at chosen
 * 3PC states and restarted), two RMs on two PostgreSQL databases (bank A debits, bank B credits;
 * {@link MariaDbThreePhaseIT} puts bank A on MariaDB),
 * each behind its own {@link TcProxy} that fails the network at a chosen command. Proves that every
 * branch ends the same way, that RMs finish branches without the TC within their termination
 * timeout, and that a split left by a partition is detected, reported and repaired by the TC.
 *
 * <p>Each test stands alone: it gets its own TM client, RMs, TC clients and proxies, and clean
 * tables. The TC process is shared while tests leave it clean; a test that leaves a global lock
 * behind (or the TC dead) fails itself, and the next test gets a new TC on a new store.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ThreePhaseIT {

    private static final long INITIAL = 1_000;
    private static final long AMOUNT = 70;
    private static final Duration TERMINATION = Duration.ofSeconds(4);
    /** Termination timeout + check interval + a status call that fails + scheduling slack. */
    private static final Duration TERMINATION_BOUND = TERMINATION.plusSeconds(4);

    private TcHarness tc;
    /** Set when a test left the TC with global locks (or dead): the next test gets a new TC. */
    private boolean tcNeedsReplacing;
    /** This test's TM. */
    private TcClient tm;
    private Bank a;
    private Bank b;

    /** One bank: its database (for the class), and for each test its RM with its own TC client behind its own proxy. */
    private final class Bank implements AutoCloseable {
        final String name;
        final TestDb db;
        final HikariDataSource raw;
        TcProxy proxy;
        TcClient client;
        ResourceManager rm;
        DataSource ds;

        Bank(String name, TestDb db) throws Exception {
            this.name = name;
            this.db = db;
            raw = db.createBank("rm_3pc_" + name, 8);
        }

        void startRm() throws java.io.IOException {
            proxy = new TcProxy(tc.process.grpcPort());
            client = new TcClient(new TcClientConfig(proxy.address(), "bank-" + name, "", Duration.ofSeconds(1), 2,
                    Duration.ofMillis(100)));
            rm = ResourceManager.builder(BranchCoordinator.of(client))
                    .config(RmConfig.defaults().withTermination(TERMINATION, Duration.ofMillis(200))).build();
            ds = rm.wrap(raw, "bank-" + name);
            rm.connect(client.config(), 2);
            assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).isTrue();
        }

        void update(String xid, String sql) throws SQLException {
            String previous = XidContext.bind(xid);
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                c.setAutoCommit(false);
                s.executeUpdate(sql);
                c.commit();
            } finally {
                XidContext.restore(previous);
            }
        }

        long balance() throws SQLException {
            return PgFixture.count(raw, "SELECT balance FROM account WHERE id = 1");
        }

        /** log_status of the branch's undo-log row, or -1 when there is none. */
        int undoStatus(String xid) throws SQLException {
            return (int) PgFixture.count(raw, "SELECT coalesce(max(log_status), -1) FROM undo_log WHERE xid = '" + xid + "'");
        }

        long liveUndoLogs() throws SQLException {
            rm.flushUndoDeletes();
            return PgFixture.count(raw, "SELECT count(*) FROM undo_log WHERE log_status <> 1");
        }

        String decision(String xid) throws SQLException {
            try (Connection c = raw.getConnection(); Statement s = c.createStatement();
                 var rs = s.executeQuery("SELECT decision, reason, reported_at IS NOT NULL FROM cohort_branch_decision"
                         + " WHERE xid = '" + xid + "'")) {
                return rs.next() ? rs.getString(1) + (rs.getBoolean(3) ? " reported" : " unreported") + ": "
                        + rs.getString(2) : null;
            }
        }

        /** Whether this RM has voted on the branch of {@code xid} (a vote stamps its undo-log row). */
        boolean voted(String xid) throws SQLException {
            return PgFixture.count(raw, "SELECT count(*) FROM undo_log WHERE xid = '" + xid + "' AND updated > created") > 0;
        }

        /**
         * Whether another local transaction holds account 1's row lock (e.g. one that updated it and
         * waits for the global lock): a {@code FOR UPDATE NOWAIT} on it is refused. (MariaDB's
         * INNODB_TRX, counted here before, at times listed no transaction while one held the row.)
         */
        boolean rowOneLockedByAnother() throws SQLException {
            try (Connection c = raw.getConnection()) {
                c.setAutoCommit(false);
                try (Statement s = c.createStatement()) {
                    s.executeQuery("SELECT balance FROM account WHERE id = 1 FOR UPDATE NOWAIT").close();
                    return false;
                } catch (SQLException e) {
                    if (db.isRowLockedError(e)) {
                        return true;
                    }
                    throw e;
                } finally {
                    c.rollback();
                }
            }
        }

        void stopRm() throws Exception {
            if (rm != null) {
                rm.close();
                client.close();
                proxy.close();
                rm = null;
            }
        }

        @Override
        public void close() throws Exception {
            stopRm();
            raw.close();
        }
    }

    private static TcHarness startTc() {
        return TcHarness.start("--cohort.tc.store.embedded.fsync=true", "--cohort.tc.three-phase.vote-timeout=60s",
                "--cohort.tc.recovery.command-timeout=3s");
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
        tc = startTc();
        a = new Bank("a", databaseOf("a"));
        b = new Bank("b", databaseOf("b"));
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
    void freshClientsAndTables() throws Exception {
        if (tcNeedsReplacing) {
            tc.close();
            tc = startTc();
            tcNeedsReplacing = false;
        }
        for (Bank bank : new Bank[] {a, b}) {
            bank.db.truncate(bank.raw, "account", "undo_log", "cohort_branch_decision");
            bank.db.insertAccounts(bank.raw, 1, 1, INITIAL);
        }
        tm = new TcClient(tc.tcConfig("rm-3pc-tm"));
        a.startRm();
        b.startRm();
    }

    /** Whatever the test did, nothing of it reaches the next one; global locks left behind fail this test. */
    @AfterEach
    void closeClientsAndCheckNoLockIsLeft() throws Exception {
        a.stopRm();
        b.stopRm();
        tm.close();
        if (!tc.process.isAlive()) {
            tcNeedsReplacing = true; // the test failed before it restarted the TC; its store may hold anything
            return;
        }
        long locks = tc.lockCount();
        if (locks > 0) {
            tcNeedsReplacing = true;
            throw new AssertionError("This test left " + locks + " global locks at the TC: " + tc.get("/api/v1/locks"));
        }
    }

    private String transfer() throws SQLException {
        String xid = tm.begin("transfer-3pc", Duration.ofSeconds(120), TransactionProtocol.THREE_PHASE);
        a.update(xid, "UPDATE account SET balance = balance - " + AMOUNT + " WHERE id = 1");
        b.update(xid, "UPDATE account SET balance = balance + " + AMOUNT + " WHERE id = 1");
        assertThat(a.undoStatus(xid)).as("registered as three-phase").isEqualTo(RmInternals.THREE_PHASE);
        assertThat(b.undoStatus(xid)).isEqualTo(RmInternals.THREE_PHASE);
        return xid;
    }

    private static java.util.function.Predicate<BranchCommand> command(String xid, BranchAction action) {
        return c -> c.getXid().equals(xid) && c.getAction() == action;
    }

    // ---- without faults ----

    @Test
    void aThreePhaseTransferVotesPreCommitsAndCommitsInBothDatabases() throws Exception {
        String xid = transfer();
        GlobalStatus answered = GlobalStatus.fromWire(tm.commit(xid).getStatus());
        assertThat(answered).isIn(GlobalStatus.PRE_COMMITTED, GlobalStatus.COMMITTING, GlobalStatus.COMMITTED);
        GlobalStatusResponse end = awaitEnded(xid, Duration.ofSeconds(20));
        assertThat(GlobalStatus.fromWire(end.getStatus())).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(end.getHeuristic()).isFalse();
        assertThat(a.balance()).isEqualTo(INITIAL - AMOUNT);
        assertThat(b.balance()).isEqualTo(INITIAL + AMOUNT);
        assertConsistentAndNothingLeft();
    }

    @Test
    void aWriteOutsideTheGlobalTransactionIsCaughtAtVoteTimeBeforeAnythingIsDecided() throws Exception {
        String xid = transfer();
        PgFixture.exec(a.raw, "UPDATE account SET balance = 5 WHERE id = 1"); // not through the RM
        GlobalStatusResponse answer = tm.commit(xid);
        assertThat(GlobalStatus.fromWire(answer.getStatus())).isIn(GlobalStatus.ROLLBACKING, GlobalStatus.ROLLBACK_FAILED);
        assertThat(answer.getReason()).contains("voted no").contains("data changed outside the global transaction")
                .contains("balance=5 (expected " + (INITIAL - AMOUNT) + ")");
        GlobalStatusResponse end = awaitEnded(xid, Duration.ofSeconds(20));
        // Bank B is undone; bank A's row is not overwritten: a person decides (the rollback says why).
        assertThat(GlobalStatus.fromWire(end.getStatus())).isEqualTo(GlobalStatus.ROLLBACK_FAILED);
        assertThat(end.getReason()).contains("dirty write");
        assertThat(b.balance()).isEqualTo(INITIAL);
        assertThat(a.balance()).isEqualTo(5);
        // Clean up for the next test: the person restores the row and retries the rollback.
        PgFixture.exec(a.raw, "UPDATE account SET balance = " + (INITIAL - AMOUNT) + " WHERE id = 1");
        tc.post("/api/v1/transactions/" + xid + "/rollback");
        assertThat(GlobalStatus.fromWire(awaitEnded(xid, Duration.ofSeconds(20)).getStatus()))
                .isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(a.balance()).isEqualTo(INITIAL);
        assertConsistentAndNothingLeft();
    }

    @Test
    void theVoteDoesNotWaitForALocalTransactionThatWaitsForThisBranchsGlobalLock() throws Exception {
        String first = transfer();
        // A second transfer updates the same row of bank A: it holds the row's local lock while it waits
        // (lock retries) for the global lock the first one holds until DoCommit.
        String second = tm.begin("transfer-3pc-2", Duration.ofSeconds(120), TransactionProtocol.THREE_PHASE);
        java.util.concurrent.CompletableFuture<Void> waiting = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                a.update(second, "UPDATE account SET balance = balance - 1 WHERE id = 1");
            } catch (SQLException e) {
                throw new IllegalStateException(e);
            }
        });
        long lookingSince = System.nanoTime();
        awaitTrue(() -> {
            if (waiting.isDone()) {
                waiting.join(); // it should still be waiting: show why it is not
                throw new AssertionError("the second transfer did not wait for the global lock");
            }
            if (System.nanoTime() - lookingSince > Duration.ofSeconds(19).toNanos()) {
                throw new AssertionError("the second transfer never wrote; where it is: " + stacksOf("ThreePhaseIT"));
            }
            return a.rowOneLockedByAnother();
        }, Duration.ofSeconds(20),
                "the second transfer holds bank A's row while it waits for the global lock");
        long start = System.nanoTime();
        tm.commit(first);
        assertThat(GlobalStatus.fromWire(awaitEnded(first, Duration.ofSeconds(20)).getStatus()))
                .isEqualTo(GlobalStatus.COMMITTED);
        // A vote that waited for the second transfer's row would wait until the second gave up its lock
        // retries (it would then fail below): the bound is that budget, not a guess at the machine's speed.
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("no wait for the second transfer's lock retries")
                .isLessThan(RmConfig.defaults().lockWaitBudget());
        waiting.get(20, java.util.concurrent.TimeUnit.SECONDS);
        b.update(second, "UPDATE account SET balance = balance + 1 WHERE id = 1");
        tm.commit(second);
        assertThat(GlobalStatus.fromWire(awaitEnded(second, Duration.ofSeconds(20)).getStatus()))
                .isEqualTo(GlobalStatus.COMMITTED);
        assertThat(a.balance()).isEqualTo(INITIAL - AMOUNT - 1);
        assertConsistentAndNothingLeft();
    }

    // ---- commands that arrive together ----

    /** Three transfers, on accounts 1, 2 and 3 of both banks, registered and not decided yet. */
    private java.util.List<String> threeTransfers() throws SQLException {
        for (Bank bank : new Bank[] {a, b}) {
            bank.db.insertAccounts(bank.raw, 2, 2, INITIAL);
        }
        java.util.List<String> xids = new java.util.ArrayList<>();
        for (int id = 1; id <= 3; id++) {
            String xid = tm.begin("transfer-3pc-" + id, Duration.ofSeconds(120), TransactionProtocol.THREE_PHASE);
            a.update(xid, "UPDATE account SET balance = balance - " + AMOUNT + " WHERE id = " + id);
            b.update(xid, "UPDATE account SET balance = balance + " + AMOUNT + " WHERE id = " + id);
            xids.add(xid);
        }
        return xids;
    }

    /** {@code action} for bank A's branches of {@code xids}, handed to its RM as one batch, as a TC stream message brings them. */
    private java.util.List<BranchResult> batchToBankA(BranchAction action, java.util.List<String> xids) throws SQLException {
        java.util.List<BranchCommand> batch = new java.util.ArrayList<>();
        for (String xid : xids) {
            batch.add(BranchCommand.newBuilder().setRequestId(batch.size() + 1).setXid(xid).setBranchId(branchIdOf(a, xid))
                    .setResourceId("bank-a").setAction(action).setBranchType(io.cohort.protocol.v1.BranchType.AT).build());
        }
        java.util.List<BranchResult> results = RmInternals.handle(a.rm, batch);
        assertThat(results).extracting(BranchResult::getXid).as("one answer per command, in order").isEqualTo(xids);
        return results;
    }

    private static java.util.List<BranchStatus> statuses(java.util.List<BranchResult> results) {
        return results.stream().map(r -> BranchStatus.fromWire(r.getStatus())).toList();
    }

    /** How many different {@code updated} stamps the undo logs of {@code xids} carry: 1 when one statement wrote them all. */
    private static long stamps(Bank bank, String... xids) throws SQLException {
        return PgFixture.count(bank.raw, "SELECT count(DISTINCT updated) FROM undo_log WHERE xid IN ('"
                + String.join("', '", xids) + "')");
    }

    /** Commits the transfers through the TC as usual and checks every account and that nothing is left. */
    private void commitAll(java.util.List<String> xids) throws Exception {
        for (String xid : xids) {
            tm.commit(xid);
            assertThat(GlobalStatus.fromWire(awaitEnded(xid, Duration.ofSeconds(20)).getStatus()))
                    .isEqualTo(GlobalStatus.COMMITTED);
        }
        for (int id = 1; id <= 3; id++) {
            assertThat(PgFixture.count(a.raw, "SELECT balance FROM account WHERE id = " + id)).isEqualTo(INITIAL - AMOUNT);
            assertThat(PgFixture.count(b.raw, "SELECT balance FROM account WHERE id = " + id)).isEqualTo(INITIAL + AMOUNT);
        }
        assertConsistentAndNothingLeft();
    }

    @Test
    void votesArrivingTogetherAreOneLocalTransactionAndADirtyBranchSaysNoForItsOwnTransactionOnly() throws Exception {
        java.util.List<String> xids = threeTransfers();
        PgFixture.exec(a.raw, "UPDATE account SET balance = 5 WHERE id = 2"); // not through the RM

        java.util.List<BranchResult> votes = batchToBankA(BranchAction.CAN_COMMIT, xids);

        assertThat(statuses(votes)).containsExactly(BranchStatus.VOTED_YES, BranchStatus.VOTED_NO, BranchStatus.VOTED_YES);
        assertThat(votes.get(1).getReason()).contains("data changed outside the global transaction")
                .contains("balance=5 (expected " + (INITIAL - AMOUNT) + ")");
        assertThat(a.voted(xids.get(0))).isTrue();
        assertThat(a.voted(xids.get(1))).as("nothing written for the dirty branch").isFalse();
        assertThat(stamps(a, xids.get(0), xids.get(2))).as("both yes votes written by one statement").isEqualTo(1);

        PgFixture.exec(a.raw, "UPDATE account SET balance = " + (INITIAL - AMOUNT) + " WHERE id = 2");
        commitAll(xids);
    }

    @Test
    void preCommitsArrivingTogetherAreRecordedByOneStatementBeforeAnyAnswer() throws Exception {
        java.util.List<String> xids = threeTransfers();
        assertThat(statuses(batchToBankA(BranchAction.CAN_COMMIT, xids))).containsOnly(BranchStatus.VOTED_YES);

        java.util.List<BranchResult> preCommits = batchToBankA(BranchAction.PRE_COMMIT, xids);

        assertThat(statuses(preCommits)).containsOnly(BranchStatus.PRE_COMMITTED);
        for (String xid : xids) {
            assertThat(a.undoStatus(xid)).as("pre-committed in bank A's database").isEqualTo(RmInternals.PRE_COMMITTED);
        }
        assertThat(stamps(a, xids.toArray(String[]::new))).isEqualTo(1);
        commitAll(xids);
    }

    @Test
    void aBranchThatFailsTheBatchIsAnsweredAloneAndCostsTheOthersNothing() throws Exception {
        java.util.List<String> xids = threeTransfers();
        // An undo-log row altered by hand: the batch's read of the rows fails on it.
        PgFixture.exec(a.raw, "UPDATE undo_log SET log_status = 42 WHERE xid = '" + xids.get(1) + "'");

        java.util.List<BranchResult> votes = batchToBankA(BranchAction.CAN_COMMIT, xids);

        assertThat(statuses(votes)).containsExactly(BranchStatus.VOTED_YES, BranchStatus.VOTED_NO, BranchStatus.VOTED_YES);
        assertThat(votes.get(1).getReason()).contains("unknown log_status 42");

        PgFixture.exec(a.raw, "UPDATE undo_log SET log_status = " + RmInternals.THREE_PHASE + " WHERE xid = '"
                + xids.get(1) + "'");
        commitAll(xids);
    }

    @Test
    void aPreCommitBatchWithABranchItCannotMoveAnswersThatOneAloneAndPreCommitsTheOthers() throws Exception {
        java.util.List<String> xids = threeTransfers();
        assertThat(statuses(batchToBankA(BranchAction.CAN_COMMIT, xids))).containsOnly(BranchStatus.VOTED_YES);
        // An undo-log row altered by hand: the batch's one statement moves only the other two.
        PgFixture.exec(a.raw, "UPDATE undo_log SET log_status = 42 WHERE xid = '" + xids.get(1) + "'");

        java.util.List<BranchResult> preCommits = batchToBankA(BranchAction.PRE_COMMIT, xids);

        assertThat(statuses(preCommits)).containsExactly(BranchStatus.PRE_COMMITTED,
                BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE, BranchStatus.PRE_COMMITTED);
        assertThat(preCommits.get(1).getReason()).contains("unknown log_status 42");
        assertThat(a.undoStatus(xids.get(0))).isEqualTo(RmInternals.PRE_COMMITTED);
        assertThat(a.undoStatus(xids.get(2))).isEqualTo(RmInternals.PRE_COMMITTED);
        assertThat(a.undoStatus(xids.get(1))).as("left as found").isEqualTo(42);

        PgFixture.exec(a.raw, "UPDATE undo_log SET log_status = " + RmInternals.THREE_PHASE + " WHERE xid = '"
                + xids.get(1) + "'");
        commitAll(xids);
    }

    /**
     * The vote's write is committed without waiting for PostgreSQL's flush (nothing is promised on it);
     * the PreCommit's is not. A deferred trigger on bank A's undo log reads the setting at COMMIT.
     */
    @Test
    void aVoteDoesNotWaitForTheDatabaseFlushButAPreCommitDoes() throws Exception {
        Assumptions.assumeTrue(databaseOf("a") == TestDb.POSTGRES, "synchronous_commit is PostgreSQL's");
        PgFixture.exec(a.raw, "CREATE TABLE commit_setting (log_status INT, sync TEXT)");
        PgFixture.exec(a.raw, "CREATE FUNCTION record_commit_setting() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                + " INSERT INTO commit_setting VALUES (NEW.log_status, current_setting('synchronous_commit'));"
                + " RETURN NULL; END $$");
        PgFixture.exec(a.raw, "CREATE CONSTRAINT TRIGGER commit_setting AFTER UPDATE ON undo_log"
                + " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION record_commit_setting()");
        try {
            String xid = transfer();
            tm.commit(xid);
            assertThat(GlobalStatus.fromWire(awaitEnded(xid, Duration.ofSeconds(20)).getStatus()))
                    .isEqualTo(GlobalStatus.COMMITTED);
            assertThat(PgFixture.count(a.raw, "SELECT count(*) FROM commit_setting WHERE log_status = "
                    + RmInternals.THREE_PHASE + " AND sync = 'off'")).as("the vote").isEqualTo(1);
            assertThat(PgFixture.count(a.raw, "SELECT count(*) FROM commit_setting WHERE log_status = "
                    + RmInternals.PRE_COMMITTED + " AND sync = 'on'")).as("the PreCommit").isEqualTo(1);
            assertThat(PgFixture.count(a.raw, "SELECT count(*) FROM commit_setting")).isEqualTo(2);
            assertConsistentAndNothingLeft();
        } finally {
            PgFixture.exec(a.raw, "DROP TRIGGER commit_setting ON undo_log");
            PgFixture.exec(a.raw, "DROP FUNCTION record_commit_setting()");
            PgFixture.exec(a.raw, "DROP TABLE commit_setting");
        }
    }

    // ---- the TC killed in each three-phase state ----

    @Test
    void tcKilledWhileCollectingVotesBothRmsRollBackAloneAndTheRestartedTcAgrees() throws Exception {
        String xid = transfer();
        b.proxy.failOn(command(xid, BranchAction.CAN_COMMIT), TcProxy.Mode.BLACKHOLE); // B never hears the vote
        Thread committing = commitInBackground(xid);
        assertThat(b.proxy.awaitTriggered(20)).isTrue();
        awaitTrue(() -> status(xid) == GlobalStatus.PRE_COMMITTING, Duration.ofSeconds(20), "PRE_COMMITTING");
        awaitTrue(() -> a.voted(xid), Duration.ofSeconds(20), "A has voted");
        tc.process.kill();
        long killedAt = System.nanoTime();
        b.proxy.heal();
        committing.join();

        awaitTrue(() -> a.undoStatus(xid) == RmInternals.ROLLED_BACK_ALONE
                && b.undoStatus(xid) == RmInternals.ROLLED_BACK_ALONE, TERMINATION_BOUND, "both RMs finish alone");
        System.out.printf("3PC PRE_COMMITTING crash: both RMs rolled back alone %d ms after the TC died%n",
                (System.nanoTime() - killedAt) / 1_000_000);
        assertThat(a.balance()).isEqualTo(INITIAL);
        assertThat(b.balance()).isEqualTo(INITIAL);
        assertThat(a.decision(xid)).startsWith("ROLLBACKED unreported: no word from the TC")
                .contains("never saw PreCommit");

        restartTc();
        GlobalStatusResponse end = awaitEnded(xid, Duration.ofSeconds(30));
        assertThat(GlobalStatus.fromWire(end.getStatus())).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(end.getHeuristic()).as("same outcome everywhere").isFalse();
        awaitTrue(() -> a.decision(xid).startsWith("ROLLBACKED reported") && b.decision(xid).startsWith("ROLLBACKED reported"),
                Duration.ofSeconds(20), "the TC heard of both decisions");
        assertConsistentAndNothingLeft();
    }

    @Test
    void tcKilledAfterPreCommitReachedOnlyOneRmSplitsAloneAndTheRestartedTcRepairsItAsHeuristic() throws Exception {
        String xid = transfer();
        b.proxy.failOn(command(xid, BranchAction.PRE_COMMIT), TcProxy.Mode.CUT); // PreCommit reaches A, not B
        tm.commit(xid);
        assertThat(b.proxy.awaitTriggered(20)).isTrue();
        awaitTrue(() -> a.undoStatus(xid) == RmInternals.PRE_COMMITTED, Duration.ofSeconds(10), "A pre-committed");
        assertThat(status(xid)).isEqualTo(GlobalStatus.PRE_COMMITTED);
        tc.process.kill();
        long killedAt = System.nanoTime();
        b.proxy.heal();

        awaitTrue(() -> a.undoStatus(xid) == RmInternals.COMMITTED_ALONE
                && b.undoStatus(xid) == RmInternals.ROLLED_BACK_ALONE, TERMINATION_BOUND, "both RMs finish alone");
        System.out.printf("3PC PRE_COMMITTED crash: A committed, B rolled back, alone, %d ms after the TC died%n",
                (System.nanoTime() - killedAt) / 1_000_000);
        assertThat(a.balance()).as("A saw PreCommit: committed").isEqualTo(INITIAL - AMOUNT);
        assertThat(b.balance()).as("B did not: rolled back").isEqualTo(INITIAL);
        assertThat(a.decision(xid)).contains("had seen PreCommit, so it committed");
        assertThat(b.decision(xid)).contains("never saw PreCommit, so it rolled back");

        restartTc();
        GlobalStatusResponse end = awaitEnded(xid, Duration.ofSeconds(30));
        assertThat(GlobalStatus.fromWire(end.getStatus())).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(end.getHeuristic()).isTrue();
        assertThat(end.getHeuristicEvidence()).contains("rolled back by its RM on its own");
        assertThat(b.balance()).as("redone by the TC from the after image").isEqualTo(INITIAL + AMOUNT);
        assertConsistentAndNothingLeft();
    }

    @Test
    void tcKilledDuringDoCommitTheRmStillWaitingCommitsAloneAndTheRestartedTcAgrees() throws Exception {
        String xid = transfer();
        b.proxy.failOn(command(xid, BranchAction.COMMIT), TcProxy.Mode.CUT); // DoCommit reaches A, not B
        tm.commit(xid);
        assertThat(b.proxy.awaitTriggered(20)).isTrue();
        awaitTrue(() -> a.undoStatus(xid) == -1, Duration.ofSeconds(10), "A's undo log deleted by DoCommit");
        assertThat(status(xid)).isIn(GlobalStatus.COMMITTING, GlobalStatus.COMMIT_RETRYING);
        assertThat(b.undoStatus(xid)).isEqualTo(RmInternals.PRE_COMMITTED);
        tc.process.kill();
        long killedAt = System.nanoTime();
        b.proxy.heal();

        awaitTrue(() -> b.undoStatus(xid) == RmInternals.COMMITTED_ALONE, TERMINATION_BOUND, "B commits alone");
        System.out.printf("3PC COMMITTING crash: B committed alone %d ms after the TC died%n",
                (System.nanoTime() - killedAt) / 1_000_000);
        assertThat(b.balance()).isEqualTo(INITIAL + AMOUNT);
        // A rollback can no longer be honoured for it: refused, with the reason, never a silent "done".
        BranchResult refused = RmInternals.handle(b.rm, BranchCommand.newBuilder().setXid(xid)
                .setBranchId(branchIdOf(b, xid)).setResourceId("bank-b").setAction(BranchAction.ROLLBACK).build());
        assertThat(BranchStatus.fromWire(refused.getStatus())).isEqualTo(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE);
        assertThat(refused.getReason()).contains("committed by this RM on its own").contains("cannot be rolled back");

        restartTc();
        GlobalStatusResponse end = awaitEnded(xid, Duration.ofSeconds(30));
        assertThat(GlobalStatus.fromWire(end.getStatus())).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(end.getHeuristic()).isFalse();
        assertConsistentAndNothingLeft();
    }

    // ---- a partition while the TC stays up ----

    @Test
    void anRmCutOffAfterPreCommitIsLoggedRollsBackAloneAndTheTcDetectsReportsAndRepairsTheSplit() throws Exception {
        String heuristicBefore = heuristicMetric();
        String xid = transfer();
        b.proxy.failOn(command(xid, BranchAction.PRE_COMMIT), TcProxy.Mode.CUT);
        tm.commit(xid);
        assertThat(b.proxy.awaitTriggered(20)).isTrue();
        long cutAt = System.nanoTime();
        awaitTrue(() -> b.undoStatus(xid) == RmInternals.ROLLED_BACK_ALONE, TERMINATION_BOUND,
                "B rolls back alone while cut off");
        System.out.printf("3PC partition: B rolled back alone %d ms after the cut%n", (System.nanoTime() - cutAt) / 1_000_000);
        assertThat(b.balance()).isEqualTo(INITIAL);
        assertThat(status(xid)).as("the TC keeps sending PreCommit").isEqualTo(GlobalStatus.PRE_COMMITTED);
        assertThat(tm.status(xid).getHeuristic()).isFalse();

        b.proxy.heal();
        GlobalStatusResponse end = awaitEnded(xid, Duration.ofSeconds(30));
        assertThat(GlobalStatus.fromWire(end.getStatus())).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(end.getHeuristic()).isTrue();
        assertThat(end.getHeuristicEvidence()).contains("rolled back by its RM on its own").contains("no word from the TC");
        assertThat(end.getReason()).contains("heuristic outcome repaired by the TC");
        String detail = tc.get("/api/v1/transactions/" + xid);
        assertThat(detail).contains("\"heuristic\":true").contains("\"heuristicEvidence\":\"")
                .contains("redone by the TC");
        assertThat(heuristicMetric()).isNotEqualTo(heuristicBefore);
        assertThat(b.balance()).as("repaired: B credited").isEqualTo(INITIAL + AMOUNT);
        assertThat(b.decision(xid)).startsWith("ROLLBACKED reported");
        assertConsistentAndNothingLeft();
    }

    @Test
    void aSplitWhoseRowsChangedAnywayIsNotRedoneButLeftForAPersonWithTheEvidence() throws Exception {
        String xid = transfer();
        b.proxy.failOn(command(xid, BranchAction.PRE_COMMIT), TcProxy.Mode.CUT);
        tm.commit(xid);
        assertThat(b.proxy.awaitTriggered(20)).isTrue();
        awaitTrue(() -> b.undoStatus(xid) == RmInternals.ROLLED_BACK_ALONE, TERMINATION_BOUND, "B rolls back alone");
        PgFixture.exec(b.raw, "UPDATE account SET balance = 1 WHERE id = 1"); // someone writes outside Cohort

        b.proxy.heal();
        GlobalStatusResponse end = awaitEnded(xid, Duration.ofSeconds(30));
        assertThat(GlobalStatus.fromWire(end.getStatus())).isEqualTo(GlobalStatus.COMMIT_FAILED);
        assertThat(end.getHeuristic()).isTrue();
        assertThat(end.getReason()).contains("cannot redo").contains("balance=1 (expected " + INITIAL + ")");
        assertThat(b.balance()).as("not overwritten").isEqualTo(1);
        assertThat(tc.lockCount()).as("the rows stay locked for the person").isPositive();

        // The person puts the row back as the RM left it and retries: the TC redoes B and finishes.
        PgFixture.exec(b.raw, "UPDATE account SET balance = " + INITIAL + " WHERE id = 1");
        tc.post("/api/v1/transactions/" + xid + "/retry");
        assertThat(GlobalStatus.fromWire(awaitEnded(xid, Duration.ofSeconds(30)).getStatus()))
                .isEqualTo(GlobalStatus.COMMITTED);
        assertThat(b.balance()).isEqualTo(INITIAL + AMOUNT);
        assertConsistentAndNothingLeft();
    }

    // ---- two-phase branches never decide alone ----

    @Test
    void twoPhaseBranchesWaitForTheTcHoweverLongItIsAway() throws Exception {
        String xid = tm.begin("transfer-2pc", Duration.ofSeconds(120), TransactionProtocol.TWO_PHASE);
        a.update(xid, "UPDATE account SET balance = balance - " + AMOUNT + " WHERE id = 1");
        // On PostgreSQL a branch that inserts keeps its undo log as a row; the others' images are at the TC.
        a.update(xid, "INSERT INTO account VALUES (99, 0)");
        b.update(xid, "UPDATE account SET balance = balance + " + AMOUNT + " WHERE id = 1");
        tc.process.kill();
        Thread.sleep(TERMINATION.toMillis()); // the branches are now past the termination timeout 3PC branches have
        a.rm.checkTermination();
        b.rm.checkTermination();
        // Nothing decided alone: A's insert kept its undo log as a row on PostgreSQL (-1: none, on
        // MariaDB the TC holds it too), still two-phase; B has none, its images at the TC.
        assertThat(a.undoStatus(xid)).isIn(RmInternals.TWO_PHASE, -1);
        assertThat(b.undoStatus(xid)).isEqualTo(-1);
        assertThat(a.decision(xid)).isNull();
        assertThat(b.decision(xid)).isNull();
        assertThat(a.balance()).isEqualTo(INITIAL - AMOUNT);

        restartTc();
        tm.rollback(xid);
        assertThat(GlobalStatus.fromWire(awaitEnded(xid, Duration.ofSeconds(30)).getStatus()))
                .isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(a.balance()).isEqualTo(INITIAL);
        assertThat(b.balance()).isEqualTo(INITIAL);
        assertThat(PgFixture.count(a.raw, "SELECT count(*) FROM account WHERE id = 99")).as("the insert undone").isZero();
        assertConsistentAndNothingLeft();
    }

    // ---- helpers ----

    /** Starts the TC again on the same data and waits until the TM and both RMs reach it. */
    private void restartTc() throws Exception {
        tc.process.start();
        awaitTrue(() -> reachable(tm) && reachable(a.client) && reachable(b.client), Duration.ofSeconds(60),
                "the TM and both RMs reach the restarted TC");
        awaitTrue(() -> tc.get("/api/v1/rms").contains("bank-a") && tc.get("/api/v1/rms").contains("bank-b"),
                Duration.ofSeconds(30), "both RMs' command streams are connected");
    }

    private static boolean reachable(TcClient client) {
        try {
            client.status("127.0.0.1:1:1"); // through the circuit breaker, like the application's calls
            return true;
        } catch (io.cohort.client.TcUnavailableException e) {
            return false;
        } catch (io.cohort.client.TcException e) {
            return true; // it answered: unknown XID
        }
    }

    /** Total money constant, no undo log, no global lock. */
    private void assertConsistentAndNothingLeft() throws Exception {
        assertThat(a.balance() + b.balance()).as("money is neither created nor lost").isEqualTo(2 * INITIAL);
        awaitTrue(() -> a.liveUndoLogs() == 0 && b.liveUndoLogs() == 0, Duration.ofSeconds(10), "no undo log left");
        assertThat(tc.lockCount()).as("global locks left").isZero();
    }

    private GlobalStatus status(String xid) {
        return GlobalStatus.fromWire(tm.status(xid).getStatus());
    }

    /** Waits until the TC stops driving {@code xid} (final, or waiting for a person) and returns its status. */
    private GlobalStatusResponse awaitEnded(String xid, Duration max) throws InterruptedException {
        long deadline = System.nanoTime() + max.toNanos();
        while (true) {
            GlobalStatusResponse r;
            try {
                r = tm.status(xid);
            } catch (io.cohort.client.TcUnavailableException notYet) {
                // A TC that has just restarted on a busy machine may miss a deadline or two: ask again.
                if (System.nanoTime() > deadline) {
                    throw notYet;
                }
                Thread.sleep(50);
                continue;
            }
            if (GlobalStatus.fromWire(r.getStatus()).isEnded() || System.nanoTime() > deadline) {
                return r;
            }
            Thread.sleep(5);
        }
    }

    private String heuristicMetric() {
        return tc.get("/actuator/prometheus").lines()
                .filter(l -> l.startsWith("cohort_tc_transactions_total") && l.contains("event=\"heuristic\""))
                .findFirst().orElse("none");
    }

    private Thread commitInBackground(String xid) {
        Thread t = new Thread(() -> {
            try {
                tm.commit(xid);
            } catch (RuntimeException expected) {
                // the TC dies while the vote is open
            }
        });
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** The stacks of the threads running code of {@code className}, for a failure's message. */
    private static String stacksOf(String className) {
        StringBuilder out = new StringBuilder();
        Thread.getAllStackTraces().forEach((thread, stack) -> {
            if (java.util.Arrays.stream(stack).anyMatch(f -> f.getClassName().contains(className))) {
                out.append("\n").append(thread.getName()).append(':');
                for (StackTraceElement f : stack) {
                    out.append("\n    at ").append(f);
                }
            }
        });
        return out.toString();
    }

    private static long branchIdOf(Bank bank, String xid) throws SQLException {
        return PgFixture.count(bank.raw, "SELECT branch_id FROM undo_log WHERE xid = '" + xid + "'");
    }

    @FunctionalInterface
    private interface Check {
        boolean ok() throws Exception;
    }

    /** A check that needs the TC counts as not met yet while no TC answers. */
    private static boolean okOrTcNotReachedYet(Check check) throws Exception {
        try {
            return check.ok();
        } catch (io.cohort.client.TcUnavailableException notYet) {
            return false;
        }
    }

    private static void awaitTrue(Check check, Duration max, String what) throws Exception {
        long deadline = System.nanoTime() + max.toNanos();
        while (!okOrTcNotReachedYet(check)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Not within " + max.toMillis() + " ms: " + what);
            }
            Thread.sleep(50);
        }
    }
}
