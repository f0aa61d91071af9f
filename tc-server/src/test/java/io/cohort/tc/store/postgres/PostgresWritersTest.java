package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.StatusChange;
import io.cohort.tc.store.RegisterResult;
import io.cohort.testsupport.TestPostgres;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The PostgreSQL store with several writers per kind of write (a pool of 32 or more connections):
 * batches of different transactions run side by side, those of one transaction stay on one writer,
 * and a transaction's end costs no statement the memory of this replica can spare.
 */
class PostgresWritersTest {

    /** How long a write may take on a loaded machine. */
    private static final Duration WAIT = Duration.ofSeconds(60);

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private DataSource admin;
    private PostgresTransactionStore store;

    private void open(int poolSize) {
        String url = TestPostgres.get().createDatabase("pg_writers");
        admin = TestPostgres.get().dataSource(url, 2);
        store = PostgresTransactionStore.create(new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), poolSize), Clock.systemUTC(), registry, true);
    }

    @AfterEach
    void close() throws Exception {
        if (store != null) {
            store.close();
        }
        if (admin != null) {
            ((AutoCloseable) admin).close();
        }
    }

    @Test
    void aBatchWaitingOnALockHoldsUpOnlyTheTransactionsOfItsWriter() throws Exception {
        open(32);
        int writers = PostgresTransactionStore.writersPerKind(32);
        assertThat(writers).isEqualTo(2);
        String blocked = "tc:blocker";
        String sameWriter = xidOnWriter(writers, writerOf(blocked, writers), "tc:same-");
        String otherWriter = xidOnWriter(writers, 1 - writerOf(blocked, writers), "tc:other-");
        for (String xid : List.of(blocked, sameWriter, otherWriter)) {
            store.insertGlobal(global(xid)).join();
        }
        try (Connection c = admin.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT 1 FROM cohort_global_tx WHERE xid = ? FOR UPDATE")) {
                ps.setString(1, blocked);
                ps.executeQuery().close();
            }
            CompletableFuture<Boolean> first = store.transitionGlobal(blocked, GlobalStatus.BEGIN,
                    GlobalStatus.ROLLBACKING, "");
            PostgresGroupCommitTest.awaitWriterWaitingOnALock(admin, WAIT);
            CompletableFuture<Boolean> behind = store.transitionGlobal(sameWriter, GlobalStatus.BEGIN,
                    GlobalStatus.ROLLBACKING, "");
            assertThat(store.transitionGlobal(otherWriter, GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "")
                    .get(WAIT.toSeconds(), TimeUnit.SECONDS)).as("written while the other writer waits").isTrue();
            assertThat(first).isNotDone();
            assertThat(behind).as("queued behind the blocked batch of its writer").isNotDone();
            c.commit();
            assertThat(first.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            assertThat(behind.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        }
    }

    /**
     * Many transactions through their whole life at once, on 2 writers per kind, wanting
     * overlapping rows: batches of registrations, moves and releases run side by side and lock in
     * one order, so none fails (a deadlock that outlived the retries would), and each ends with no
     * branch found, no lock, and its registrations and moves in its history.
     */
    @Test
    void concurrentTransactionsOnSeveralWritersPerKindEndCleanly() throws Exception {
        open(32);
        assertThat(PostgresTransactionStore.writersPerKind(32)).isEqualTo(2);
        int transactions = 240;
        int branchesStored = 0;
        ExecutorService callers = Executors.newFixedThreadPool(24);
        try {
            List<Future<List<Long>>> lives = new ArrayList<>();
            for (int i = 0; i < transactions; i++) {
                int n = i;
                lives.add(callers.submit(() -> life(n)));
            }
            for (int i = 0; i < transactions; i++) {
                List<Long> registered = lives.get(i).get(WAIT.toSeconds(), TimeUnit.SECONDS);
                branchesStored += registered.size();
                String xid = "tc:life-" + i;
                assertThat(store.findBranches(xid)).as("the branches of an ended transaction").isEmpty();
                GlobalStatus end = store.findGlobal(xid).orElseThrow().status();
                List<StatusChange> history = store.history(xid);
                assertThat(history).extracting(StatusChange::branchId)
                        .containsAll(registered);
                assertThat(history).filteredOn(h -> h.branchId() == StatusChange.GLOBAL)
                        .extracting(StatusChange::status).containsExactly("BEGIN",
                                end == GlobalStatus.COMMITTED ? "ASYNC_COMMITTING" : "ROLLBACKING", end.name());
            }
        } finally {
            callers.shutdownNow();
        }
        assertThat(count("cohort_branch")).as("the stored branches' rows, kept until the purge, and no refused one's")
                .isEqualTo(branchesStored);
        assertThat(count("cohort_row_lock")).isZero();
        assertThat(count("cohort_global_tx WHERE status NOT IN (5, 9)")).isZero();
    }

    /** begin, two registrations, decision, lock release (twice, as the coordinator does), end. */
    private List<Long> life(int n) {
        String xid = "tc:life-" + n;
        store.insertGlobal(global(xid)).join();
        List<Long> registered = new ArrayList<>();
        boolean refused = false;
        for (int b = 0; b < 2; b++) {
            long branchId = n * 10L + b + 1; // 0 is the global transaction's in the history
            // rows shared with other transactions, wanted in both orders, so registrations meet in batches
            String pk = b == 0 ? "r" + (n % 7) : "r" + (6 - n % 7);
            RegisterResult result = store.registerBranch(branch(xid, branchId, "db", pk),
                    RowKey.expand("db", List.of("account:" + pk))).join();
            if (result instanceof RegisterResult.Registered) {
                registered.add(branchId);
            } else {
                refused = true;
            }
        }
        GlobalStatus decision = refused ? GlobalStatus.ROLLBACKING : GlobalStatus.ASYNC_COMMITTING;
        assertThat(store.transitionGlobal(xid, GlobalStatus.BEGIN, decision, "", ChangeCause.TM).join()).isTrue();
        if (decision == GlobalStatus.ASYNC_COMMITTING) {
            store.releaseLocks(xid).join();
        } else {
            for (long branchId : registered) {
                assertThat(store.updateBranch(xid, branchId, BranchStatus.PHASE2_ROLLBACKED, "").join()).isTrue();
            }
        }
        store.releaseLocks(xid).join();
        GlobalStatus end = refused ? GlobalStatus.ROLLBACKED : GlobalStatus.COMMITTED;
        assertThat(store.transitionGlobal(xid, decision, end, "", ChangeCause.TC).join()).isTrue();
        store.deleteBranches(xid).join();
        return registered;
    }

    @Test
    void theEndOfATransactionCostsOnlyItsFinalMove() throws Exception {
        open(4);
        store.insertGlobal(global("tc:1")).join();
        store.registerBranch(branch("tc:1", 11, "db", "a"), RowKey.expand("db", List.of("account:a"))).join();
        store.registerBranch(branch("tc:1", 12, "db", "b"), RowKey.expand("db", List.of("account:b"))).join();
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "", ChangeCause.TM).join();
        store.releaseLocks("tc:1").join();
        assertThat(store.findLocks("tc:1")).isEmpty();

        double written = writes();
        store.releaseLocks("tc:1").join();
        assertThat(writes()).as("the release after phase 2 of a decided transaction released before").isEqualTo(written);

        store.transitionGlobal("tc:1", GlobalStatus.ASYNC_COMMITTING, GlobalStatus.COMMITTED, "done").join();
        written = writes();
        store.deleteBranches("tc:1").join();
        assertThat(writes()).as("the branches' deletion").isEqualTo(written);

        assertThat(store.findBranches("tc:1")).as("the branches of an ended transaction").isEmpty();
        assertThat(store.history("tc:1")).extracting(h -> h.branchId() + " " + h.status()).containsExactly(
                "0 BEGIN", "11 REGISTERED", "12 REGISTERED", "0 ASYNC_COMMITTING", "0 COMMITTED");
        assertThat(store.findGlobal("tc:1").orElseThrow().status()).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(count("cohort_branch WHERE xid = 'tc:1'")).as("branch rows, kept until the purge").isEqualTo(2);

        assertThat(store.purgeEndedBefore(System.currentTimeMillis() + 1).join()).isEqualTo(1);
        assertThat(count("cohort_branch WHERE xid = 'tc:1'")).as("purged with their transaction").isZero();
    }

    /** The first registration of a TM-made XID waits for one commit, not for a creation's and then its own. */
    @Test
    void aFirstRegistrationCreatesItsTransactionInTheSameDatabaseTransaction() throws Exception {
        open(4);
        GlobalTransaction tx = global("tc:1");

        assertThat(store.createAndRegister(tx, branch("tc:1", 11, "db", "a"), RowKey.expand("db", List.of("account:a")))
                .join().created()).isTrue();

        try (Connection c = admin.getConnection(); PreparedStatement ps = c.prepareStatement("""
                SELECT g.xmin::text, b.xmin::text, l.xmin::text FROM cohort_global_tx g
                JOIN cohort_branch b ON b.xid = g.xid JOIN cohort_row_lock l ON l.xid = g.xid WHERE g.xid = 'tc:1'""");
             ResultSet rs = ps.executeQuery()) {
            assertThat(rs.next()).isTrue();
            assertThat(List.of(rs.getString(2), rs.getString(3))).as("written by the creation's transaction")
                    .containsOnly(rs.getString(1));
        }
        assertThat(store.findGlobalWithoutReading("tc:1")).as("held by the replica that created it").contains(tx);
        assertThat(store.findBranches("tc:1")).extracting(Branch::branchId).containsExactly(11L);
    }

    /** Every change goes into the global row it updates anyway: no history row, same history. */
    @Test
    void aTransactionsHistoryTakesNoRowOfItsOwn() throws Exception {
        open(4);
        store.insertGlobal(global("tc:1")).join();
        store.registerBranch(branch("tc:1", 11, "db", "a"), RowKey.expand("db", List.of("account:a"))).join();
        store.registerBranch(branch("tc:1", 12, "db", "b"), RowKey.expand("db", List.of("account:b"))).join();
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "asked", ChangeCause.TM).join();
        store.updateBranch("tc:1", 12, BranchStatus.PHASE2_ROLLBACKED, "undone").join();
        store.updateBranch("tc:1", 11, BranchStatus.PHASE2_ROLLBACKED, "").join();
        store.releaseLocks("tc:1").join();
        store.transitionGlobal("tc:1", GlobalStatus.ROLLBACKING, GlobalStatus.ROLLBACKED, "done").join();
        store.deleteBranches("tc:1").join();

        assertThat(count("cohort_status_history")).isZero();
        assertThat(store.history("tc:1")).extracting(h -> h.branchId() + " " + h.status() + " " + h.cause() + " "
                + h.reason()).containsExactly("0 BEGIN TM ", "11 REGISTERED RM resource db",
                "12 REGISTERED RM resource db", "0 ROLLBACKING TM asked", "12 PHASE2_ROLLBACKED TC undone",
                "11 PHASE2_ROLLBACKED TC ", "0 ROLLBACKED TC done");
    }

    /** Written by a replica of the version before (a row per change), then moved by this one: all of it shows. */
    @Test
    void historyRowsOfAnUpgradedDatabaseShowWithTheRowsHistory() throws Exception {
        open(4);
        store.insertGlobal(global("tc:1")).join();
        store.registerBranch(branch("tc:1", 11, "db", "a"), RowKey.expand("db", List.of("account:a"))).join();
        try (Connection c = admin.getConnection(); PreparedStatement ps = c.prepareStatement("""
                WITH moved AS (UPDATE cohort_global_tx SET status = ? WHERE xid = 'tc:1')
                INSERT INTO cohort_status_history (xid, branch_id, status, cause, reason, at)
                VALUES ('tc:1', 0, ?, ?, 'old replica', timestamptz 'epoch' + interval '3 seconds')""")) {
            ps.setShort(1, (short) GlobalStatus.ASYNC_COMMITTING.code());
            ps.setShort(2, (short) GlobalStatus.ASYNC_COMMITTING.code());
            ps.setShort(3, (short) ChangeCause.TM.code());
            ps.executeUpdate();
        }
        store.releaseLease("tc:1"); // as after a takeover: this replica reads it from the database

        assertThat(store.transitionGlobal("tc:1", GlobalStatus.ASYNC_COMMITTING, GlobalStatus.COMMITTED, "done").join())
                .isTrue();

        assertThat(store.history("tc:1")).extracting(h -> h.branchId() + " " + h.status() + " " + h.reason())
                .containsExactly("0 BEGIN ", "11 REGISTERED resource db", "0 ASYNC_COMMITTING old replica",
                        "0 COMMITTED done");
    }

    @Test
    void aReleaseBeforeTheDecisionIsWrittenEveryTime() {
        open(4);
        store.insertGlobal(global("tc:1")).join();
        store.registerBranch(branch("tc:1", 11, "db", "a"), RowKey.expand("db", List.of("account:a"))).join();
        store.releaseLocks("tc:1").join();
        store.registerBranch(branch("tc:1", 12, "db", "b"), RowKey.expand("db", List.of("account:b"))).join();
        assertThat(store.findLocks("tc:1")).hasSize(1);

        store.releaseLocks("tc:1").join();

        assertThat(store.findLocks("tc:1")).as("still in BEGIN: it could have registered since").isEmpty();
    }

    @Test
    void aHeuristicTransactionKeepsItsBranchesAtItsFinalMove() throws Exception {
        open(4);
        store.insertGlobal(global("tc:1")).join();
        store.registerBranch(branch("tc:1", 11, "db", "a"), RowKey.expand("db", List.of("account:a"))).join();
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "", ChangeCause.TM).join();
        store.markHeuristic("tc:1", "branch 11 rolled back on its own").join();

        store.transitionGlobal("tc:1", GlobalStatus.COMMITTING, GlobalStatus.COMMITTED, "done").join();

        assertThat(count("cohort_branch WHERE xid = 'tc:1'")).as("kept as evidence").isEqualTo(1);
        assertThat(store.findBranches("tc:1")).extracting(Branch::branchId).containsExactly(11L);
    }

    private double writes() {
        return registry.get("cohort.store.batch.size").summary().totalAmount();
    }

    private long count(String tableAndWhere) throws SQLException {
        try (Connection c = admin.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT count(*) FROM " + tableAndWhere); ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** The writer a transaction's writes go to (as {@code GroupCommit} picks it). */
    private static int writerOf(String xid, int writers) {
        return Math.floorMod(xid.hashCode(), writers);
    }

    private static String xidOnWriter(int writers, int writer, String prefix) {
        for (int i = 0; ; i++) {
            if (writerOf(prefix + i, writers) == writer) {
                return prefix + i;
            }
        }
    }

    private static GlobalTransaction global(String xid) {
        return new GlobalTransaction(xid, "transfer", "bank", TransactionProtocol.TWO_PHASE, GlobalStatus.BEGIN,
                1_000, 60_000, "", "", 1_000);
    }

    private static Branch branch(String xid, long branchId, String resource, String pk) {
        return new Branch(xid, branchId, resource, "rm", List.of("account:" + pk), new byte[] {1},
                BranchStatus.REGISTERED, 2_000 + branchId, "");
    }
}
