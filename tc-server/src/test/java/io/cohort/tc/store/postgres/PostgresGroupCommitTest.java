package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.TransactionStore.CreatedRegistration;
import io.cohort.testsupport.TestPostgres;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Group commit of the PostgreSQL store: writes queued together share one database transaction, and
 * each still gets its own answer. To put chosen writes into one batch, the test holds a row lock
 * that the writer's current batch waits for (a registration share-locks its global row); the writes
 * made meanwhile queue up and form the next batch, in the order they were made.
 */
class PostgresGroupCommitTest {

    /** How long the writer may take to reach the blocked statement on a loaded machine. */
    private static final Duration WAIT = Duration.ofSeconds(60);

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private String url;
    private DataSource admin;
    private PostgresTransactionStore store;

    @BeforeEach
    void open() {
        url = TestPostgres.get().createDatabase("pg_group");
        admin = TestPostgres.get().dataSource(url, 3);
        store = openStore();
    }

    private PostgresTransactionStore openStore() {
        return PostgresTransactionStore.create(new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), 4), Clock.systemUTC(), registry, true);
    }

    @AfterEach
    void close() throws Exception {
        store.close();
        ((AutoCloseable) admin).close();
    }

    @Test
    void registrationsOfOneBatchGetTheirOwnAnswers() throws Exception {
        for (String xid : List.of("tc:0", "tc:blocker", "tc:1", "tc:2", "tc:3", "tc:4", "tc:5")) {
            store.insertGlobal(global(xid)).join();
        }
        store.transitionGlobal("tc:5", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "").join();
        assertThat(store.registerBranch(branch("tc:0", 1, "s"), rows("s")).join())
                .isEqualTo(new RegisterResult.Registered(1));

        List<CompletableFuture<RegisterResult>> batch = new ArrayList<>();
        try (Blocker blocker = new Blocker("tc:blocker")) {
            CompletableFuture<RegisterResult> blocked = store.registerBranch(branch("tc:blocker", 2, "z"), rows("z"));
            awaitWriterWaiting();
            // tc:1 wants r1 and s; s is tc:0's: refused, and r1 goes to tc:2, which comes after it.
            batch.add(store.registerBranch(branch("tc:1", 11, "r1", "s"), rows("r1", "s")));
            batch.add(store.registerBranch(branch("tc:2", 12, "r1"), rows("r1")));
            // tc:3 and tc:4 both want r2: the first gets it, the second is refused with tc:3 as holder.
            batch.add(store.registerBranch(branch("tc:3", 13, "r2"), rows("r2")));
            batch.add(store.registerBranch(branch("tc:4", 14, "r2", "r4"), rows("r2", "r4")));
            // A second branch of tc:3 on the same row: its own lock, so fine.
            batch.add(store.registerBranch(branch("tc:3", 15, "r2", "r3"), rows("r2", "r3")));
            batch.add(store.registerBranch(branch("tc:404", 16, "r5"), rows("r5")));
            batch.add(store.registerBranch(branch("tc:5", 17, "r6"), rows("r6")));
            assertThat(blocked).isNotDone();
            assertThat(batch).noneMatch(CompletableFuture::isDone);
            blocker.release();
            assertThat(blocked.join()).isEqualTo(new RegisterResult.Registered(2));
        }

        assertThat(((RegisterResult.Conflict) batch.get(0).join()).heldBy().xid()).isEqualTo("tc:0");
        assertThat(batch.get(1).join()).isEqualTo(new RegisterResult.Registered(12));
        assertThat(batch.get(2).join()).isEqualTo(new RegisterResult.Registered(13));
        RowLock holder = ((RegisterResult.Conflict) batch.get(3).join()).heldBy();
        assertThat(holder.xid()).isEqualTo("tc:3");
        assertThat(holder.branchId()).isEqualTo(13);
        assertThat(holder.row()).isEqualTo(new RowKey("db", "account", "r2"));
        assertThat(batch.get(4).join()).isEqualTo(new RegisterResult.Registered(15));
        assertThat(batch.get(5).join()).isEqualTo(new RegisterResult.UnknownXid());
        assertThat(batch.get(6).join()).isEqualTo(new RegisterResult.NotActive(GlobalStatus.ROLLBACKING));

        // The refused left nothing behind; the stored hold exactly their rows.
        assertThat(store.findBranches("tc:1")).isEmpty();
        assertThat(store.findLocks("tc:1")).isEmpty();
        assertThat(store.findBranches("tc:4")).isEmpty();
        assertThat(store.findLocks("tc:4")).isEmpty();
        assertThat(store.findLocks("tc:2")).extracting(l -> l.row().pk()).containsExactly("r1");
        assertThat(store.findLocks("tc:3")).extracting(l -> l.row().pk() + "/" + l.branchId())
                .containsExactlyInAnyOrder("r2/13", "r3/15");
        assertThat(store.findBranches("tc:3")).extracting(Branch::branchId).containsExactly(13L, 15L);
        assertThat(store.findLocks("tc:404")).isEmpty();
        assertThat(store.findLocks("tc:5")).isEmpty();

        DistributionSummary batches = registry.get("cohort.store.batch.size").summary();
        assertThat(batches.max()).as("the seven registrations were written in one batch").isGreaterThanOrEqualTo(7);
    }

    @Test
    void aBranchIdStoredAlreadyFailsTheRegistrationStatementThatDoesNotExpectIt() throws Exception {
        store.insertGlobal(global("tc:0")).join();
        store.insertGlobal(global("tc:1")).join();
        assertThat(store.registerBranch(branch("tc:0", 1, "s"), rows("s")).join())
                .isEqualTo(new RegisterResult.Registered(1));
        try (Connection c = admin.getConnection()) {
            c.setAutoCommit(false);
            List<GroupCommit.Register> writes = List.of(new GroupCommit.Register(branch("tc:1", 1, "t"), rows("t")));
            GroupCommit.Owner owner = new GroupCommit.Owner("tc-test", 30_000);
            // The hot path's plain insert: the caller runs the batch again with the other statement.
            assertThatThrownBy(() -> Registrations.run(c, writes, owner, false)).isInstanceOf(SQLException.class)
                    .extracting(e -> ((SQLException) e).getSQLState()).isEqualTo(JdbcRunner.UNIQUE_VIOLATION);
            c.rollback();
            Registrations.run(c, writes, owner, true);
            c.commit();
            assertThat(writes.get(0).result).isEqualTo(new RegisterResult.DuplicateBranch());
        }
        assertThat(store.findLocks("tc:1")).isEmpty();
    }

    @Test
    void aBatchThatMeetsAStoredBranchIdRunsAgainAndOnlyThatRegistrationIsRefused() throws Exception {
        for (String xid : List.of("tc:0", "tc:blocker", "tc:1", "tc:2")) {
            store.insertGlobal(global(xid)).join();
        }
        assertThat(store.registerBranch(branch("tc:0", 1, "s"), rows("s")).join())
                .isEqualTo(new RegisterResult.Registered(1));
        GlobalTransaction tmMade = global("tm:new");

        CompletableFuture<CreatedRegistration> created;
        CompletableFuture<RegisterResult> stored;
        CompletableFuture<RegisterResult> after;
        CompletableFuture<RegisterResult> second;
        try (Blocker blocker = new Blocker("tc:blocker")) {
            CompletableFuture<RegisterResult> blocked = store.registerBranch(branch("tc:blocker", 2, "z"), rows("z"));
            awaitWriterWaiting();
            created = store.createAndRegister(tmMade, branch("tm:new", 31, "c1"), rows("c1"));
            stored = store.registerBranch(branch("tc:1", 1, "d1"), rows("d1")); // tc:0's id
            after = store.registerBranch(branch("tc:2", 32, "d1"), rows("d1"));
            second = store.registerBranch(branch("tm:new", 33, "c2"), rows("c2"));
            assertThat(List.of(created, stored, after, second)).noneMatch(CompletableFuture::isDone);
            blocker.release();
            assertThat(blocked.join()).isEqualTo(new RegisterResult.Registered(2));
        }

        // The first run failed on id 1 and was rolled back, creation included; the second made it again.
        assertThat(created.join()).isEqualTo(new CreatedRegistration(true, new RegisterResult.Registered(31)));
        assertThat(stored.join()).isEqualTo(new RegisterResult.DuplicateBranch());
        assertThat(after.join()).as("d1 is free: the refused one left no lock").isEqualTo(new RegisterResult.Registered(32));
        assertThat(second.join()).isEqualTo(new RegisterResult.Registered(33));
        assertThat(store.findGlobal("tm:new")).isPresent();
        assertThat(store.findBranches("tm:new")).extracting(Branch::branchId).containsExactly(31L, 33L);
        assertThat(store.findBranches("tc:1")).isEmpty();
        assertThat(store.findLocks("tc:1")).isEmpty();
        assertThat(store.findBranches("tc:0")).extracting(Branch::xid).as("id 1 stays tc:0's").containsExactly("tc:0");
        assertThat(store.findLocks("tc:2")).extracting(l -> l.row().pk()).containsExactly("d1");
        DistributionSummary batches = registry.get("cohort.store.batch.size").summary();
        assertThat(batches.max()).as("the four registrations were written in one batch").isGreaterThanOrEqualTo(4);
    }

    @Test
    void anExistingXidFailsOnlyItsOwnBeginInABatch() throws Exception {
        store.insertGlobal(global("tc:dup")).join();
        CompletableFuture<Void> held;
        CompletableFuture<Void> duplicate;
        CompletableFuture<Void> fresh;
        // An uncommitted insert of tc:held makes the store's insert of the same XID wait; the next two queue.
        try (Connection c = admin.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO cohort_global_tx (xid, protocol, status,"
                    + " begin_time, timeout_ms, updated_at) VALUES ('tc:held', 1, 1, now(), 1000, now())")) {
                ps.executeUpdate();
            }
            held = store.insertGlobal(global("tc:held"));
            awaitWriterWaiting();
            duplicate = store.insertGlobal(global("tc:dup"));
            fresh = store.insertGlobal(global("tc:new"));
            assertThat(duplicate).isNotDone();
            c.commit();
        }
        assertThatThrownBy(held::join).isInstanceOf(CompletionException.class)
                .hasMessageContaining("insertGlobal for xid tc:held").hasMessageContaining("exists already");
        assertThatThrownBy(duplicate::join).isInstanceOf(CompletionException.class)
                .hasMessageContaining("insertGlobal for xid tc:dup").hasMessageContaining("exists already");
        fresh.join();
        assertThat(store.findGlobal("tc:new")).isPresent();
    }

    @Test
    void statusChangesOfOneBatchAreCompareAndSetsEach() throws Exception {
        store.insertGlobal(global("tc:blocker")).join();
        store.insertGlobal(global("tc:a")).join();
        List<CompletableFuture<Boolean>> batch = oneBatchOfMoves("tc:blocker", () -> List.of(
                store.transitionGlobal("tc:a", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "first"),
                store.transitionGlobal("tc:a", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "second")));
        assertThat(batch.get(0).join()).isTrue();
        assertThat(batch.get(1).join()).as("a compare-and-set behind another of the same batch").isFalse();
        assertThat(store.findGlobal("tc:a").orElseThrow().status()).isEqualTo(GlobalStatus.ROLLBACKING);
        assertThat(store.updateBranch("tc:a", 404, BranchStatus.PHASE2_ROLLBACKED, "").join()).isFalse();
    }

    /** One statement moves a row once: a second move of a transaction in the batch sees the first. */
    @Test
    void movesOfOneTransactionInOneBatchFollowEachOther() throws Exception {
        store.insertGlobal(global("tc:blocker")).join();
        store.insertGlobal(global("tc:a")).join();
        store.insertGlobal(global("tc:b")).join();
        store.registerBranch(branch("tc:a", 11, "a"), rows("a")).join();
        List<CompletableFuture<Boolean>> batch = oneBatchOfMoves("tc:blocker", () -> List.of(
                store.transitionGlobal("tc:a", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "rollback"),
                store.transitionGlobal("tc:a", GlobalStatus.ROLLBACKING, GlobalStatus.ROLLBACKED, "done"),
                store.transitionGlobal("tc:b", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "commit")));
        assertThat(batch.get(0).join()).isTrue();
        assertThat(batch.get(1).join()).as("the move from the status the first move of the batch made").isTrue();
        assertThat(batch.get(2).join()).isTrue();
        assertThat(store.findGlobal("tc:a").orElseThrow().status()).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(store.findBranches("tc:a")).as("gone with the final move").isEmpty();
        assertThat(store.history("tc:a")).extracting(h -> h.branchId() + " " + h.status()).containsExactly(
                "0 BEGIN", "11 REGISTERED", "0 ROLLBACKING", "0 ROLLBACKED");
        assertThat(store.findGlobal("tc:b").orElseThrow().status()).isEqualTo(GlobalStatus.ASYNC_COMMITTING);
    }

    @Test
    void lockKeysWithQuotesBackslashesAndBracesComeBackAsRegistered() {
        store.insertGlobal(global("tc:odd")).join();
        List<String> keys = List.of("t:a\"b", "t:c\\d", "t:{e}", "t:NULL", "t: f ");
        Branch branch = new Branch("tc:odd", 7, "db", "rm", keys, new byte[] {0, -1, 42}, BranchStatus.REGISTERED,
                3_000, "why \"not\"");
        assertThat(store.registerBranch(branch, RowKey.expand("db", keys)).join())
                .isEqualTo(new RegisterResult.Registered(7));

        Branch stored = store.findBranches("tc:odd").get(0);
        assertThat(stored).usingRecursiveComparison().isEqualTo(branch);
        assertThat(store.findLocks("tc:odd")).extracting(l -> l.row().pk())
                .containsExactlyInAnyOrder("a\"b", "c\\d", "{e}", "NULL", " f ");
    }

    @Test
    void capsCountBeginsAtOnceAndSeeEndsOnAnExactCount() {
        store.insertGlobal(global("tc:1")).join();
        assertThat(store.countUnfinished("bank").total()).isEqualTo(1);
        store.insertGlobal(global("tc:2")).join();
        store.insertGlobal(global("tc:3")).join();
        assertThat(store.countUnfinished("bank")).as("this replica's begins count before the next count")
                .isEqualTo(new io.cohort.tc.store.TransactionStore.Unfinished(3, 3));
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKED, "").join();
        assertThat(store.countUnfinishedExactly("bank"))
                .isEqualTo(new io.cohort.tc.store.TransactionStore.Unfinished(2, 2));
    }

    @Test
    void aCallersNextStepDoesNotHoldUpTheWriterOfItsWrite() throws Exception {
        store.insertGlobal(global("tc:blocker")).join();
        store.insertGlobal(global("tc:a")).join();
        CompletableFuture<CompletableFuture<Boolean>> later = new CompletableFuture<>();
        CompletableFuture<Boolean> nextStep;
        CompletableFuture<Void> nextStepBegun = new CompletableFuture<>();
        try (Blocker blocker = new Blocker("tc:blocker")) {
            CompletableFuture<Boolean> first =
                    store.transitionGlobal("tc:blocker", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "");
            awaitWriterWaiting();
            // The caller's next step waits for a later write of the same kind, as phase 2 waits for
            // the store after the decision: it must not run on the writer that writes it.
            nextStep = first.thenApply(moved -> {
                nextStepBegun.complete(null);
                try {
                    return later.get(WAIT.toSeconds(), TimeUnit.SECONDS).get(WAIT.toSeconds(), TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new CompletionException(e);
                }
            });
            blocker.release();
            nextStepBegun.get(WAIT.toSeconds(), TimeUnit.SECONDS); // not first.get(): it may run nextStep here
        }
        later.complete(store.transitionGlobal("tc:a", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, ""));
        assertThat(nextStep.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void aBatchOfMovesTakesGlobalRowsInXidOrder() throws Exception {
        // The store's sessions would find a deadlock only after 10 minutes, so the batch is not
        // failed and run again after a second, which would hide one: the writer's session fails.
        try (Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute("ALTER DATABASE " + c.getCatalog() + " SET deadlock_timeout = '10min'");
        }
        store.close();
        store = openStore();
        for (String xid : List.of("tc:0", "tc:a", "tc:b")) {
            store.insertGlobal(global(xid)).join();
        }
        try (Connection writer = admin.getConnection()) {
            writer.setAutoCommit(false);
            try (PreparedStatement ps = writer.prepareStatement(
                    "SELECT 1 FROM cohort_global_tx WHERE xid = 'tc:a' FOR UPDATE")) {
                ps.executeQuery().close(); // another writer in XID order: it holds tc:a and wants tc:b next
            }
            List<CompletableFuture<Boolean>> batch = oneBatchOfMoves("tc:0", () -> List.of(
                    store.transitionGlobal("tc:b", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, ""),
                    store.transitionGlobal("tc:a", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "")));
            awaitWriterWaiting(); // the batch of tc:b and tc:a, on tc:a
            try (PreparedStatement ps = writer.prepareStatement(
                    "UPDATE cohort_global_tx SET reason = 'writer' WHERE xid = 'tc:b'")) {
                assertThat(ps.executeUpdate()).as("tc:b, not taken by the batch waiting on tc:a").isEqualTo(1);
            }
            writer.commit();
            for (CompletableFuture<Boolean> move : batch) {
                assertThat(move.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            }
        }
        assertThat(store.findGlobal("tc:b").orElseThrow().status()).isEqualTo(GlobalStatus.ROLLBACKING);
    }

    @Test
    void aLeaseRenewalLocksGlobalRowsInTheWritersOrder() throws Exception {
        // Inserted in reverse order, so a scan meets tc:b first.
        store.insertGlobal(global("tc:b")).join();
        store.insertGlobal(global("tc:a")).join();
        try (Connection writer = admin.getConnection(); Connection renewal = admin.getConnection()) {
            writer.setAutoCommit(false);
            try (PreparedStatement ps = writer.prepareStatement(
                    "SELECT 1 FROM cohort_global_tx WHERE xid = 'tc:a' FOR UPDATE")) {
                ps.executeQuery().close(); // a writer batch in XID order: it holds tc:a and wants tc:b next
            }
            CompletableFuture<Integer> renewed = CompletableFuture.supplyAsync(() -> {
                try (PreparedStatement ps = renewal.prepareStatement(Sql.RENEW_LEASES)) {
                    ps.setString(1, store.replicaId());
                    ps.setLong(2, 10_000);
                    return ps.executeUpdate();
                } catch (SQLException e) {
                    throw new CompletionException(e);
                }
            });
            awaitWriterWaiting();
            try (PreparedStatement ps = writer.prepareStatement(
                    "UPDATE cohort_global_tx SET reason = 'writer' WHERE xid = 'tc:b'")) {
                assertThat(ps.executeUpdate()).as("the writer's second row, not held by the waiting renewal").isEqualTo(1);
            }
            writer.commit();
            assertThat(renewed.get(WAIT.toSeconds(), TimeUnit.SECONDS)).as("renewed without a deadlock").isEqualTo(2);
        }
    }

    /**
     * The moves {@code queue} makes while the moves' writer waits on {@code blockerXid}'s global row,
     * which the test holds: they form the writer's next batch, run once the row is let go.
     */
    private List<CompletableFuture<Boolean>> oneBatchOfMoves(String blockerXid,
                                                             Supplier<List<CompletableFuture<Boolean>>> queue)
            throws Exception {
        try (Blocker blocker = new Blocker(blockerXid)) {
            CompletableFuture<Boolean> blocked =
                    store.transitionGlobal(blockerXid, GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "");
            awaitWriterWaiting();
            List<CompletableFuture<Boolean>> queued = queue.get();
            assertThat(queued).noneMatch(CompletableFuture::isDone);
            blocker.release();
            assertThat(blocked.join()).isTrue();
            return queued;
        }
    }

    /** Until a store writer waits on a lock the test holds. */
    void awaitWriterWaiting() throws Exception {
        awaitWriterWaitingOnALock(admin, WAIT);
    }

    /** Until a session of {@code admin}'s database waits on a lock (the test holds it), within {@code wait}. */
    static void awaitWriterWaitingOnALock(DataSource admin, Duration wait) throws Exception {
        long deadline = System.nanoTime() + wait.toNanos();
        try (Connection probe = admin.getConnection(); PreparedStatement ps = probe.prepareStatement(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        + " AND wait_event_type = 'Lock'")) {
            while (System.nanoTime() < deadline) {
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    if (rs.getLong(1) > 0) {
                        return;
                    }
                }
                Thread.sleep(10);
            }
        }
        throw new AssertionError("The store's writer did not wait on the held row within " + wait);
    }

    /** Holds FOR UPDATE on one global row, so the writer's batch that registers in it waits. */
    private final class Blocker implements AutoCloseable {
        private final Connection c;

        Blocker(String xid) throws SQLException {
            c = admin.getConnection();
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("SELECT 1 FROM cohort_global_tx WHERE xid = ? FOR UPDATE")) {
                ps.setString(1, xid);
                ps.executeQuery().close();
            }
        }

        void release() throws SQLException {
            c.commit();
        }

        @Override
        public void close() throws SQLException {
            c.rollback();
            c.close();
        }
    }

    private static GlobalTransaction global(String xid) {
        return new GlobalTransaction(xid, "transfer", "bank", TransactionProtocol.TWO_PHASE, GlobalStatus.BEGIN,
                1_000, 60_000, "", "", 1_000);
    }

    private static Branch branch(String xid, long branchId, String... pks) {
        List<String> keys = List.of("account:" + String.join(",", pks));
        return new Branch(xid, branchId, "db", "rm", keys, new byte[] {1}, BranchStatus.REGISTERED, 2_000 + branchId, "");
    }

    private static List<RowKey> rows(String... pks) {
        return RowKey.expand("db", List.of("account:" + String.join(",", pks)));
    }
}
