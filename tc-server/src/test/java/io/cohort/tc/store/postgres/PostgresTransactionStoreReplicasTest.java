package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.TransactionStore;
import io.cohort.testsupport.TestPostgres;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two stores on one database, each with its own pool: two TC replicas. Whatever one replica does
 * the other must see and respect, through the database alone.
 */
class PostgresTransactionStoreReplicasTest {

    private static final int THREADS = 12;

    private final Clock clock = Clock.systemUTC();
    private final AtomicLong ids = new AtomicLong();
    private String url;
    private TransactionStore replicaA;
    private TransactionStore replicaB;

    @BeforeEach
    void openTwoReplicas() {
        url = TestPostgres.get().createDatabase("pg_replicas");
        replicaA = open(url);
        replicaB = open(url);
    }

    @AfterEach
    void closeReplicasAndDropTheDatabase() throws SQLException {
        replicaA.close();
        replicaB.close();
        String server = url.substring(0, url.lastIndexOf('/') + 1);
        try (HikariDataSource admin = TestPostgres.get().dataSource(server + "postgres", 1);
             Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + url.substring(server.length()) + " WITH (FORCE)");
        }
    }

    private TransactionStore open(String url) {
        return PostgresTransactionStore.create(
                new PostgresStoreConfig(url, TestPostgres.get().user(), TestPostgres.get().password(), 4),
                clock, new SimpleMeterRegistry(), true);
    }

    @Test
    void overlappingRegistrationsThroughBothReplicasNeverGrantARowTwice() throws Exception {
        List<RowKey> hotRows = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            hotRows.add(new RowKey("db1", "account", Integer.toString(i)));
        }
        ConcurrentHashMap<RowKey, String> holders = new ConcurrentHashMap<>();
        List<String> doubleGrants = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger registered = new AtomicInteger();
        AtomicInteger conflicts = new AtomicInteger();

        runOnThreads(thread -> {
            ThreadLocalRandom random = ThreadLocalRandom.current();
            for (int round = 0; round < 40; round++) {
                TransactionStore self = random.nextBoolean() ? replicaA : replicaB;
                TransactionStore other = self == replicaA ? replicaB : replicaA;
                String xid = "replica-test:" + thread + ":" + round;
                self.insertGlobal(global(xid)).join();
                // Rows in a random order and with repeats: the store must order and dedupe them itself.
                List<RowKey> wanted = new ArrayList<>();
                for (int n = 1 + random.nextInt(4); n > 0; n--) {
                    wanted.add(hotRows.get(random.nextInt(hotRows.size())));
                }
                RegisterResult result = other.registerBranch(branch(xid, wanted), wanted).join();
                if (result instanceof RegisterResult.Registered) {
                    registered.incrementAndGet();
                    for (RowKey row : Set.copyOf(wanted)) {
                        String before = holders.putIfAbsent(row, xid);
                        if (before != null) {
                            doubleGrants.add(row.lockKey() + " granted to " + xid + " while " + before + " held it");
                        }
                    }
                    Thread.onSpinWait();
                    Set.copyOf(wanted).forEach(row -> holders.remove(row, xid));
                    self.releaseLocks(xid).join();
                } else {
                    assertThat(result).isInstanceOf(RegisterResult.Conflict.class);
                    conflicts.incrementAndGet();
                }
                self.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
            }
        });

        assertThat(doubleGrants).isEmpty();
        assertThat(registered.get()).isPositive();
        assertThat(conflicts.get()).as("the test must actually contend").isPositive();
        assertThat(replicaA.listLocks(null, 0, 10).total()).isZero();
        assertThat(replicaB.countByStatus()).containsEntry(GlobalStatus.COMMITTED, (long) THREADS * 40);
    }

    @Test
    void concurrentTransitionsThroughBothReplicasHaveExactlyOneWinner() throws Exception {
        int transactions = 30;
        for (int i = 0; i < transactions; i++) {
            replicaA.insertGlobal(global("cas:" + i)).join();
        }
        ConcurrentHashMap<String, AtomicInteger> wins = new ConcurrentHashMap<>();
        GlobalStatus[] targets = {GlobalStatus.COMMITTING, GlobalStatus.ROLLBACKING, GlobalStatus.TIMEOUT_ROLLBACKING};

        runOnThreads(thread -> {
            TransactionStore store = thread % 2 == 0 ? replicaA : replicaB;
            for (int i = 0; i < transactions; i++) {
                String xid = "cas:" + i;
                GlobalStatus to = targets[(thread + i) % targets.length];
                if (store.transitionGlobal(xid, GlobalStatus.BEGIN, to, "thread " + thread).join()) {
                    wins.computeIfAbsent(xid, x -> new AtomicInteger()).incrementAndGet();
                }
            }
        });

        for (int i = 0; i < transactions; i++) {
            assertThat(wins.get("cas:" + i)).as("winners for cas:" + i).hasValue(1);
            assertThat(replicaB.findGlobal("cas:" + i).orElseThrow().status()).isNotEqualTo(GlobalStatus.BEGIN);
        }
    }

    @Test
    void firstRequestsForOneTmMadeXidAtBothReplicasAtOnceCreateExactlyOneTransactionOwnedByItsCreator()
            throws Exception {
        int transactions = 40;
        ConcurrentHashMap<String, List<TransactionStore>> creators = new ConcurrentHashMap<>();
        runOnThreads(thread -> {
            TransactionStore store = thread % 2 == 0 ? replicaA : replicaB;
            for (int i = 0; i < transactions; i++) {
                String xid = "tm-made:" + i;
                if (store.createGlobal(global(xid)).join()) {
                    creators.computeIfAbsent(xid, x -> Collections.synchronizedList(new ArrayList<>())).add(store);
                }
            }
        });

        try (HikariDataSource admin = TestPostgres.get().dataSource(url, 1); Connection c = admin.getConnection();
             Statement s = c.createStatement();
             var rs = s.executeQuery("SELECT count(*), count(DISTINCT xid) FROM cohort_global_tx WHERE xid LIKE 'tm-made:%'")) {
            rs.next();
            assertThat(rs.getLong(1)).isEqualTo(transactions);
            assertThat(rs.getLong(2)).isEqualTo(transactions);
        }
        Set<String> claimedByA = new java.util.HashSet<>();
        replicaA.claimUnended(Set.of()).forEach(tx -> claimedByA.add(tx.xid()));
        Set<String> claimedByB = new java.util.HashSet<>();
        replicaB.claimUnended(Set.of()).forEach(tx -> claimedByB.add(tx.xid()));
        for (int i = 0; i < transactions; i++) {
            String xid = "tm-made:" + i;
            assertThat(creators.get(xid)).as("creators of " + xid).hasSize(1);
            TransactionStore owner = creators.get(xid).get(0);
            assertThat(owner == replicaA ? claimedByA : claimedByB).as("the creator owns " + xid).contains(xid);
            assertThat(owner == replicaA ? claimedByB : claimedByA).as("the other replica leaves " + xid).doesNotContain(xid);
        }
    }

    @Test
    void aLockTakenThroughOneReplicaIsSeenByTheOther() {
        replicaA.insertGlobal(global("x:1")).join();
        replicaB.insertGlobal(global("x:2")).join();
        RowKey row = new RowKey("db1", "account", "1");

        assertThat(replicaA.registerBranch(branch("x:1", List.of(row)), List.of(row)).join())
                .isInstanceOf(RegisterResult.Registered.class);

        assertThat(replicaB.findConflict(List.of(row), "x:2")).hasValueSatisfying(l -> assertThat(l.xid())
                .isEqualTo("x:1"));
        assertThat(replicaB.registerBranch(branch("x:2", List.of(row)), List.of(row)).join())
                .isInstanceOfSatisfying(RegisterResult.Conflict.class, c -> assertThat(c.heldBy().xid())
                        .isEqualTo("x:1"));
        replicaB.releaseLocks("x:1").join();
        assertThat(replicaA.registerBranch(branch("x:2", List.of(row)), List.of(row)).join())
                .isInstanceOf(RegisterResult.Registered.class);
    }

    @Test
    void theReplicaThatBeganATransactionDrivesItFromMemoryWithoutReading() throws SQLException {
        replicaA.insertGlobal(global("x:1")).join();
        RowKey row = new RowKey("db1", "account", "1");
        Branch branch = branch("x:1", List.of(row));
        replicaA.registerBranch(branch, List.of(row)).join();
        assertThat(replicaA.transitionGlobal("x:1", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "commit").join())
                .isTrue();
        replicaA.updateBranch("x:1", branch.branchId(), BranchStatus.PHASE2_COMMITTED, "done").join();

        try (HikariDataSource admin = TestPostgres.get().dataSource(url, 1); Connection c = admin.getConnection();
             Statement s = c.createStatement()) {
            // What phase 2 reads is not where the database has it: only the owner's memory can answer.
            s.execute("ALTER TABLE cohort_global_tx RENAME TO hidden_global_tx");
            s.execute("ALTER TABLE cohort_branch RENAME TO hidden_branch");
            try {
                assertThat(replicaA.findGlobal("x:1")).hasValueSatisfying(tx ->
                        assertThat(tx.status()).isEqualTo(GlobalStatus.ASYNC_COMMITTING));
                assertThat(replicaA.findBranches("x:1")).singleElement().satisfies(b -> {
                    assertThat(b.branchId()).isEqualTo(branch.branchId());
                    assertThat(b.status()).isEqualTo(BranchStatus.PHASE2_COMMITTED);
                });
            } finally {
                s.execute("ALTER TABLE hidden_global_tx RENAME TO cohort_global_tx");
                s.execute("ALTER TABLE hidden_branch RENAME TO cohort_branch");
            }
        }
        // Ended but not final: a final move would delete the branches with it.
        replicaA.transitionGlobal("x:1", GlobalStatus.ASYNC_COMMITTING, GlobalStatus.COMMIT_FAILED, "").join();
        replicaB.updateBranch("x:1", branch.branchId(), BranchStatus.PHASE2_ROLLBACKED, "changed through B").join();
        assertThat(replicaA.findBranches("x:1")).as("an ended transaction is read from the database")
                .singleElement().satisfies(b -> assertThat(b.status()).isEqualTo(BranchStatus.PHASE2_ROLLBACKED));
    }

    @Test
    void aBranchRegisteredThroughAnotherReplicaIsInTheOwnersPhaseTwo() {
        replicaA.insertGlobal(global("x:1")).join();
        RowKey rowA = new RowKey("db1", "account", "1");
        RowKey rowB = new RowKey("db1", "account", "2");
        Branch throughA = branch("x:1", List.of(rowA));
        Branch throughB = branch("x:1", List.of(rowB));
        replicaA.registerBranch(throughA, List.of(rowA)).join();
        assertThat(replicaB.registerBranch(throughB, List.of(rowB)).join()).isInstanceOf(RegisterResult.Registered.class);

        assertThat(replicaA.transitionGlobal("x:1", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "rollback").join())
                .isTrue();
        assertThat(replicaA.findBranches("x:1")).extracting(Branch::branchId)
                .containsExactly(throughA.branchId(), throughB.branchId());
    }

    @Test
    void aBranchResultAndADecisionThroughAnotherReplicaAreSeenByTheOwner() {
        replicaA.insertGlobal(global("x:1")).join();
        RowKey row = new RowKey("db1", "account", "1");
        Branch branch = branch("x:1", List.of(row));
        replicaA.registerBranch(branch, List.of(row)).join();
        replicaB.updateBranch("x:1", branch.branchId(), BranchStatus.PHASE1_FAILED, "local commit failed").join();
        assertThat(replicaA.transitionGlobal("x:1", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "rollback").join())
                .isTrue();
        assertThat(replicaA.findBranches("x:1")).singleElement()
                .satisfies(b -> assertThat(b.status()).isEqualTo(BranchStatus.PHASE1_FAILED));

        replicaA.insertGlobal(global("x:2")).join();
        assertThat(replicaB.transitionGlobal("x:2", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "through B").join())
                .isTrue();
        assertThat(replicaA.transitionGlobal("x:2", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "").join())
                .as("the owner's stale BEGIN loses the compare-and-set").isFalse();
        assertThat(replicaA.findGlobal("x:2")).hasValueSatisfying(tx ->
                assertThat(tx.status()).isEqualTo(GlobalStatus.ROLLBACKING));
    }

    private interface PerThread {
        void run(int thread) throws Exception;
    }

    private static void runOnThreads(PerThread work) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int thread = t;
                done.add(pool.submit(() -> {
                    start.await();
                    work.run(thread);
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private GlobalTransaction global(String xid) {
        long now = clock.millis();
        return new GlobalTransaction(xid, "transfer", "bank", TransactionProtocol.TWO_PHASE, GlobalStatus.BEGIN, now,
                60_000, "", "", now);
    }

    private Branch branch(String xid, List<RowKey> rows) {
        List<String> keys = rows.stream().map(RowKey::lockKey).toList();
        return new Branch(xid, ids.incrementAndGet(), "db1", "rm-1", keys, new byte[0], BranchStatus.REGISTERED,
                clock.millis(), "");
    }
}
