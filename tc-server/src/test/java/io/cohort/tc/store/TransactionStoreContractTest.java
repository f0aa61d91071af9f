package io.cohort.tc.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.ManualClock;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.model.StatusChange;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every {@link TransactionStore} must have, whatever keeps the data. An implementation
 * test extends this class and provides {@link #newStore()} and {@link #reopen(TransactionStore)};
 * nothing here assumes files, tables or threads of a particular store.
 *
 * <p>Conventions the tests rely on: pages are numbered from 0; the store takes "now" (for
 * {@code updatedAtMs}) from {@link #clock}; a row lock's acquisition time is not asserted.
 */
public abstract class TransactionStoreContractTest {

    /** Starts well after the epoch; tests move it forward with {@link ManualClock#advance}. */
    protected final ManualClock clock = new ManualClock(Instant.ofEpochMilli(1_700_000_000_000L));

    protected TransactionStore store;

    /** A new, empty store that reads the time from {@link #clock}. */
    protected abstract TransactionStore newStore() throws Exception;

    /**
     * Closes {@code current} cleanly and opens a new store on the same data (for the embedded
     * store: the same directory; for a database: the same schema), reading time from {@link #clock}.
     */
    protected abstract TransactionStore reopen(TransactionStore current) throws Exception;

    @BeforeEach
    void openStore() throws Exception {
        store = newStore();
    }

    @AfterEach
    void closeStore() {
        if (store != null) {
            store.close();
        }
    }

    // ---------------------------------------------------------------- insert / find

    @Test
    void unfinishedAreCountedInAllAndPerApplication() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.insertGlobal(global("tc:2", 101)).join();
        store.insertGlobal(new GlobalTransaction("tc:3", "x", "other", TransactionProtocol.TWO_PHASE, GlobalStatus.BEGIN,
                102, 60_000, "", "", 102)).join();
        store.insertGlobal(global("tc:4", 103)).join();
        store.transitionGlobal("tc:2", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "").join();
        store.transitionGlobal("tc:4", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKED, "").join();

        assertThat(store.countUnfinished("bank")).isEqualTo(new TransactionStore.Unfinished(3, 2));
        assertThat(store.countUnfinished("other")).isEqualTo(new TransactionStore.Unfinished(3, 1));
        assertThat(store.countUnfinished("nobody")).isEqualTo(new TransactionStore.Unfinished(3, 0));
    }

    @Test
    void insertedGlobalIsFoundByXid() {
        GlobalTransaction tx = global("tc:1", 100);
        store.insertGlobal(tx).join();

        assertThat(store.findGlobal("tc:1")).contains(tx);
        assertThat(store.findBranches("tc:1")).isEmpty();
        assertThat(store.findLocks("tc:1")).isEmpty();
    }

    @Test
    void unknownXidIsNotFound() {
        assertThat(store.findGlobal("tc:404")).isEmpty();
        assertThat(store.findBranches("tc:404")).isEmpty();
        assertThat(store.findLocks("tc:404")).isEmpty();
    }

    @Test
    void insertingAnExistingXidFailsAndKeepsTheFirst() {
        GlobalTransaction first = global("tc:1", 100);
        store.insertGlobal(first).join();

        GlobalTransaction second = new GlobalTransaction("tc:1", "other", "app2", TransactionProtocol.THREE_PHASE,
                GlobalStatus.BEGIN, 200, 5_000, "", "", 200);
        assertThatThrownBy(() -> store.insertGlobal(second).join()).isNotNull();
        assertThat(store.findGlobal("tc:1")).contains(first);
    }

    @Test
    void createGlobalCreatesAnUnknownXidOnceAndLeavesAnExistingOneAlone() {
        GlobalTransaction first = global("tc:1", 100);
        assertThat(store.createGlobal(first).join()).isTrue();
        GlobalTransaction second = new GlobalTransaction("tc:1", "other", "app2", TransactionProtocol.THREE_PHASE,
                GlobalStatus.BEGIN, 200, 5_000, "", "", 200);
        assertThat(store.createGlobal(second).join()).isFalse();
        assertThat(store.findGlobal("tc:1")).contains(first);
        assertThat(store.countUnfinished("bank")).isEqualTo(new TransactionStore.Unfinished(1, 1));
    }

    @Test
    void createGlobalKeepsATransactionThatEndedWithoutBranchesAsEndedAcrossAReopen() throws Exception {
        GlobalTransaction committed = new GlobalTransaction("tc:1", "empty", "bank", TransactionProtocol.TWO_PHASE,
                GlobalStatus.COMMITTED, 100, 60_000, "", "commit requested by TM: no branch registered", 101);
        assertThat(store.createGlobal(committed).join()).isTrue();
        store.insertGlobal(global("tc:2", 102)).join(); // a later write makes the creation durable
        store.transitionGlobal("tc:2", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "").join();

        store = reopen(store);
        assertThat(store.findGlobal("tc:1")).hasValueSatisfying(tx -> {
            assertThat(tx.status()).isEqualTo(GlobalStatus.COMMITTED);
            assertThat(tx.reason()).isEqualTo("commit requested by TM: no branch registered");
        });
        assertThat(store.findUnended()).extracting(GlobalTransaction::xid).containsExactly("tc:2");
        assertThat(store.createGlobal(global("tc:1", 300)).join()).as("an ended XID is not created again").isFalse();
        Branch late = branch("tc:1", 11, "db1", "account:1");
        assertThat(store.registerBranch(late, rows("db1", "account:1")).join()).isInstanceOf(RegisterResult.NotActive.class);
    }

    @Test
    void createAndRegisterCreatesTheTransactionWithItsFirstBranchAcrossAReopen() throws Exception {
        GlobalTransaction tx = global("tc:1", 100);
        Branch branch = branch("tc:1", 11, "db1", "account:1");

        TransactionStore.CreatedRegistration done = store.createAndRegister(tx, branch, rows("db1", "account:1")).join();

        assertThat(done).isEqualTo(new TransactionStore.CreatedRegistration(true, new RegisterResult.Registered(11)));
        assertThat(store.findGlobal("tc:1")).contains(tx);
        assertThat(store.findBranches("tc:1")).singleElement().satisfies(b -> assertSameBranch(b, branch));
        assertThat(store.countUnfinished("bank")).isEqualTo(new TransactionStore.Unfinished(1, 1));
        store = reopen(store);
        assertThat(store.findGlobal("tc:1")).contains(tx);
        assertThat(store.findLocks("tc:1")).extracting(RowLock::branchId).containsExactly(11L);
    }

    @Test
    void createAndRegisterOfAnExistingXidRegistersInItAsItIs() {
        store.insertGlobal(global("tc:1", 100)).join();
        GlobalTransaction again = new GlobalTransaction("tc:1", "other", "app2", TransactionProtocol.THREE_PHASE,
                GlobalStatus.BEGIN, 200, 5_000, "", "", 200);

        assertThat(store.createAndRegister(again, branch("tc:1", 11, "db1", "account:1"), rows("db1", "account:1"))
                .join()).isEqualTo(new TransactionStore.CreatedRegistration(false, new RegisterResult.Registered(11)));
        assertThat(store.findGlobal("tc:1")).contains(global("tc:1", 100));

        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "").join();
        assertThat(store.createAndRegister(again, branch("tc:1", 12, "db1", "account:2"), rows("db1", "account:2"))
                .join()).satisfies(done -> {
                    assertThat(done.created()).isFalse();
                    assertThat(done.result()).isEqualTo(new RegisterResult.NotActive(GlobalStatus.ROLLBACKING));
                });
        assertThat(store.findBranches("tc:1")).extracting(Branch::branchId).containsExactly(11L);
    }

    @Test
    void createAndRegisterCreatesEvenWhenTheRegistrationIsRefused() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1"), rows("db1", "account:1")).join();

        TransactionStore.CreatedRegistration done = store.createAndRegister(global("tc:2", 200),
                branch("tc:2", 21, "db1", "account:1"), rows("db1", "account:1")).join();

        assertThat(done.created()).isTrue();
        assertThat(done.result()).isInstanceOf(RegisterResult.Conflict.class);
        assertThat(store.findGlobal("tc:2")).map(GlobalTransaction::status).contains(GlobalStatus.BEGIN);
        assertThat(store.findBranches("tc:2")).isEmpty();
        assertThat(store.findLocks("tc:1")).extracting(RowLock::branchId).containsExactly(11L);
    }

    // ---------------------------------------------------------------- registerBranch

    @Test
    void registerBranchStoresTheBranchAndLocksEveryRow() {
        store.insertGlobal(global("tc:1", 100)).join();
        Branch branch = branch("tc:1", 11, "db1", "account:1,2");

        RegisterResult result = store.registerBranch(branch, rows("db1", "account:1,2")).join();

        assertThat(result).isEqualTo(new RegisterResult.Registered(11));
        assertThat(store.findBranches("tc:1")).singleElement().satisfies(b -> assertSameBranch(b, branch));
        assertThat(store.findLocks("tc:1"))
                .extracting(RowLock::row, RowLock::xid, RowLock::branchId)
                .containsExactlyInAnyOrder(
                        org.assertj.core.groups.Tuple.tuple(new RowKey("db1", "account", "1"), "tc:1", 11L),
                        org.assertj.core.groups.Tuple.tuple(new RowKey("db1", "account", "2"), "tc:1", 11L));
    }

    @Test
    void registerBranchReportsTheConflictingHolderAndStoresNothing() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.insertGlobal(global("tc:2", 101)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:2"), rows("db1", "account:2")).join();

        RegisterResult result = store.registerBranch(branch("tc:2", 21, "db1", "account:1,2,3"),
                rows("db1", "account:1,2,3")).join();

        assertThat(result).isInstanceOfSatisfying(RegisterResult.Conflict.class, c -> {
            assertThat(c.heldBy().row()).isEqualTo(new RowKey("db1", "account", "2"));
            assertThat(c.heldBy().xid()).isEqualTo("tc:1");
            assertThat(c.heldBy().branchId()).isEqualTo(11);
        });
        // All or nothing: neither the branch nor the free rows 1 and 3 were taken.
        assertThat(store.findBranches("tc:2")).isEmpty();
        assertThat(store.findLocks("tc:2")).isEmpty();
        assertThat(store.findConflict(rows("db1", "account:1,3"), "tc:9")).isEmpty();
    }

    @Test
    void rowsAlreadyHeldByTheSameXidAreNotConflicts() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1"), rows("db1", "account:1")).join();

        RegisterResult again = store.registerBranch(branch("tc:1", 12, "db1", "account:1,2"),
                rows("db1", "account:1,2")).join();

        assertThat(again).isEqualTo(new RegisterResult.Registered(12));
        assertThat(store.findBranches("tc:1")).extracting(Branch::branchId).containsExactly(11L, 12L);
        assertThat(store.findLocks("tc:1")).extracting(l -> l.row().pk()).containsExactlyInAnyOrder("1", "2");
    }

    @Test
    void sameRowOnDifferentResourcesOrTablesDoesNotConflict() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.insertGlobal(global("tc:2", 101)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1"), rows("db1", "account:1")).join();

        assertThat(store.registerBranch(branch("tc:2", 21, "db2", "account:1"), rows("db2", "account:1")).join())
                .isEqualTo(new RegisterResult.Registered(21));
        assertThat(store.registerBranch(branch("tc:2", 22, "db1", "ledger:1"), rows("db1", "ledger:1")).join())
                .isEqualTo(new RegisterResult.Registered(22));
    }

    @Test
    void registerBranchOnUnknownXidStoresNothing() {
        RegisterResult result = store.registerBranch(branch("tc:404", 1, "db1", "account:1"),
                rows("db1", "account:1")).join();

        assertThat(result).isInstanceOf(RegisterResult.UnknownXid.class);
        assertThat(store.findBranches("tc:404")).isEmpty();
        assertThat(store.findConflict(rows("db1", "account:1"), null)).isEmpty();
    }

    @Test
    void registerBranchWhenNotInBeginReportsTheStatusAndStoresNothing() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "timeout").join();

        RegisterResult result = store.registerBranch(branch("tc:1", 11, "db1", "account:1"),
                rows("db1", "account:1")).join();

        assertThat(result).isEqualTo(new RegisterResult.NotActive(GlobalStatus.ROLLBACKING));
        assertThat(store.findBranches("tc:1")).isEmpty();
        assertThat(store.findLocks("tc:1")).isEmpty();
    }

    @Test
    void registerBranchWithoutRowsStoresTheBranchOnly() {
        store.insertGlobal(global("tc:1", 100)).join();

        assertThat(store.registerBranch(branch("tc:1", 11, "db1"), List.of()).join())
                .isEqualTo(new RegisterResult.Registered(11));
        assertThat(store.findBranches("tc:1")).hasSize(1);
        assertThat(store.findLocks("tc:1")).isEmpty();
    }

    @Test
    void branchesAreListedInRegistrationOrder() {
        store.insertGlobal(global("tc:1", 100)).join();
        for (long id = 1; id <= 5; id++) {
            store.registerBranch(branch("tc:1", id, "db" + id), List.of()).join();
        }
        assertThat(store.findBranches("tc:1")).extracting(Branch::branchId).containsExactly(1L, 2L, 3L, 4L, 5L);
    }

    /** Ids an RM chooses (random) are in no order: the store keeps registration order, also after a reopen. */
    @Test
    void branchesWithIdsChosenByRmsKeepRegistrationOrderAcrossReopen() throws Exception {
        store.insertGlobal(global("tc:1", 100)).join();
        long[] ids = {Long.MAX_VALUE - 7, 3, 8_000_000_000_000_000_000L, 42, 1L << 62};
        for (int i = 0; i < ids.length; i++) {
            assertThat(store.registerBranch(branch("tc:1", ids[i], "db" + i, "", 1_000 + i), List.of()).join())
                    .isEqualTo(new RegisterResult.Registered(ids[i]));
        }
        assertThat(store.findBranches("tc:1")).extracting(Branch::branchId)
                .containsExactly(ids[0], ids[1], ids[2], ids[3], ids[4]);
        store.updateBranch("tc:1", ids[2], BranchStatus.PHASE1_FAILED, "no").join();

        store = reopen(store);

        assertThat(store.findBranches("tc:1")).extracting(Branch::branchId)
                .containsExactly(ids[0], ids[1], ids[2], ids[3], ids[4]);
        assertThat(store.findBranches("tc:1").get(2).status()).isEqualTo(BranchStatus.PHASE1_FAILED);
    }

    /** An id the XID already has is refused, and the refused registration takes no lock and changes nothing. */
    @Test
    void aBranchIdTheXidAlreadyHasIsRefusedAndStoresNothing() {
        store.insertGlobal(global("tc:1", 100)).join();
        Branch first = branch("tc:1", 77, "db1", "account:1");
        assertThat(store.registerBranch(first, rows("db1", "account:1")).join())
                .isEqualTo(new RegisterResult.Registered(77));

        Branch again = branch("tc:1", 77, "db2", "ledger:9");
        assertThat(store.registerBranch(again, rows("db2", "ledger:9")).join())
                .isEqualTo(new RegisterResult.DuplicateBranch());

        assertThat(store.findBranches("tc:1")).singleElement().satisfies(b -> assertSameBranch(b, first));
        assertThat(store.findLocks("tc:1")).extracting(RowLock::row)
                .containsExactly(new RowKey("db1", "account", "1"));
        assertThat(store.findConflict(rows("db2", "ledger:9"), "tc:2")).isEmpty();
        // The XID is still usable with a new id.
        assertThat(store.registerBranch(branch("tc:1", 78, "db2", "ledger:9"), rows("db2", "ledger:9")).join())
                .isEqualTo(new RegisterResult.Registered(78));
    }

    /** Two registrations of one XID with the same id at the same time: one is stored, the other refused. */
    @Test
    void concurrentRegistrationsWithTheSameIdStoreOne() throws Exception {
        store.insertGlobal(global("tc:1", 100)).join();
        int contenders = 6;
        List<CompletableFuture<RegisterResult>> results = new ArrayList<>();
        CountDownLatch go = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(contenders);
        try {
            List<Future<CompletableFuture<RegisterResult>>> submitted = new ArrayList<>();
            for (int i = 0; i < contenders; i++) {
                int n = i;
                submitted.add(pool.submit(() -> {
                    go.await();
                    return store.registerBranch(branch("tc:1", 5, "db" + n, "t:" + n), rows("db" + n, "t:" + n));
                }));
            }
            go.countDown();
            for (var f : submitted) {
                results.add(f.get(30, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        List<RegisterResult> answers = results.stream().map(CompletableFuture::join).toList();
        assertThat(answers).filteredOn(r -> r instanceof RegisterResult.Registered).hasSize(1);
        assertThat(answers).filteredOn(r -> r instanceof RegisterResult.DuplicateBranch).hasSize(contenders - 1);
        assertThat(store.findBranches("tc:1")).hasSize(1);
        assertThat(store.findLocks("tc:1")).hasSize(1);
    }

    @Test
    void concurrentRegistrationsOnTheSameRowGrantItOnce() throws Exception {
        int contenders = 8;
        for (int i = 0; i < contenders; i++) {
            store.insertGlobal(global("tc:" + i, 100 + i)).join();
        }
        ExecutorService pool = Executors.newFixedThreadPool(contenders);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<RegisterResult>> results = new ArrayList<>();
            for (int i = 0; i < contenders; i++) {
                String xid = "tc:" + i;
                long branchId = 10 + i;
                results.add(pool.submit(() -> {
                    start.await();
                    return store.registerBranch(branch(xid, branchId, "db1", "account:7"),
                            rows("db1", "account:7")).join();
                }));
            }
            start.countDown();
            int registered = 0;
            for (Future<RegisterResult> r : results) {
                if (r.get(30, TimeUnit.SECONDS) instanceof RegisterResult.Registered) {
                    registered++;
                }
            }
            assertThat(registered).isEqualTo(1);
        } finally {
            pool.shutdownNow();
        }
    }

    // ---------------------------------------------------------------- transitionGlobal / markHeuristic

    @Test
    void transitionMovesTheStatusWhenTheCurrentOneMatches() {
        store.insertGlobal(global("tc:1", 100)).join();
        clock.advance(Duration.ofMillis(500));

        assertThat(store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "tm commit").join())
                .isTrue();

        GlobalTransaction tx = store.findGlobal("tc:1").orElseThrow();
        assertThat(tx.status()).isEqualTo(GlobalStatus.COMMITTING);
        assertThat(tx.reason()).isEqualTo("tm commit");
        assertThat(tx.updatedAtMs()).isEqualTo(clock.millis());
        assertThat(tx.beginTimeMs()).isEqualTo(100);
    }

    @Test
    void transitionLosesWhenTheStatusHasMoved() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.TIMEOUT_ROLLBACKING, "timeout").join();

        assertThat(store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "tm commit").join())
                .isFalse();
        assertThat(store.findGlobal("tc:1").orElseThrow().status()).isEqualTo(GlobalStatus.TIMEOUT_ROLLBACKING);
        assertThat(store.findGlobal("tc:1").orElseThrow().reason()).isEqualTo("timeout");
    }

    @Test
    void transitionOfAnUnknownXidReturnsFalse() {
        assertThat(store.transitionGlobal("tc:404", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "").join())
                .isFalse();
        assertThat(store.findGlobal("tc:404")).isEmpty();
    }

    @Test
    void concurrentTransitionsFromTheSameStatusHaveOneWinner() throws Exception {
        store.insertGlobal(global("tc:1", 100)).join();
        GlobalStatus[] targets = {GlobalStatus.COMMITTING, GlobalStatus.ROLLBACKING, GlobalStatus.TIMEOUT_ROLLBACKING,
                GlobalStatus.PRE_COMMITTING};
        ExecutorService pool = Executors.newFixedThreadPool(targets.length);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Boolean>> results = new ArrayList<>();
            for (GlobalStatus to : targets) {
                results.add(pool.submit(() -> {
                    start.await();
                    return store.transitionGlobal("tc:1", GlobalStatus.BEGIN, to, "race").join();
                }));
            }
            start.countDown();
            List<GlobalStatus> winners = new ArrayList<>();
            for (int i = 0; i < targets.length; i++) {
                if (results.get(i).get(30, TimeUnit.SECONDS)) {
                    winners.add(targets[i]);
                }
            }
            assertThat(winners).hasSize(1);
            assertThat(store.findGlobal("tc:1").orElseThrow().status()).isEqualTo(winners.get(0));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void markHeuristicSetsTheFlagAndKeepsTheEvidence() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();

        store.markHeuristic("tc:1", "branch 12 rolled back on its own").join();

        GlobalTransaction tx = store.findGlobal("tc:1").orElseThrow();
        assertThat(tx.heuristic()).isTrue();
        assertThat(tx.heuristicEvidence()).isEqualTo("branch 12 rolled back on its own");
        assertThat(tx.reason()).as("the status reason is left alone").isEmpty();
        assertThat(tx.status()).isEqualTo(GlobalStatus.COMMITTED);
    }

    // ---------------------------------------------------------------- updateBranch / releaseLocks / deleteBranches

    @Test
    void updateBranchChangesItsStatusAndReason() {
        store.insertGlobal(global("tc:1", 100)).join();
        Branch branch = branch("tc:1", 11, "db1", "account:1");
        store.registerBranch(branch, rows("db1", "account:1")).join();

        assertThat(store.updateBranch("tc:1", 11, BranchStatus.PHASE2_COMMITTED, "done").join()).isTrue();

        Branch stored = store.findBranches("tc:1").get(0);
        assertThat(stored.status()).isEqualTo(BranchStatus.PHASE2_COMMITTED);
        assertThat(stored.reason()).isEqualTo("done");
        assertThat(stored.resourceId()).isEqualTo("db1");
        assertThat(stored.applicationData()).isEqualTo(branch.applicationData());
    }

    @Test
    void updateOfAnUnknownBranchReturnsFalse() {
        store.insertGlobal(global("tc:1", 100)).join();
        assertThat(store.updateBranch("tc:1", 99, BranchStatus.PHASE2_COMMITTED, "").join()).isFalse();
        assertThat(store.updateBranch("tc:404", 99, BranchStatus.PHASE2_COMMITTED, "").join()).isFalse();
    }

    @Test
    void releaseLocksFreesEveryRowOfThatXidOnly() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.insertGlobal(global("tc:2", 101)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1,2"), rows("db1", "account:1,2")).join();
        store.registerBranch(branch("tc:1", 12, "db2", "ledger:1"), rows("db2", "ledger:1")).join();
        store.registerBranch(branch("tc:2", 21, "db1", "account:3"), rows("db1", "account:3")).join();

        store.releaseLocks("tc:1").join();

        assertThat(store.findLocks("tc:1")).isEmpty();
        assertThat(store.findLocks("tc:2")).hasSize(1);
        assertThat(store.findBranches("tc:1")).hasSize(2);
        store.insertGlobal(global("tc:3", 102)).join();
        assertThat(store.registerBranch(branch("tc:3", 31, "db1", "account:1,2"), rows("db1", "account:1,2")).join())
                .isEqualTo(new RegisterResult.Registered(31));
    }

    @Test
    void releaseLocksOfAnXidWithoutLocksDoesNothing() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.releaseLocks("tc:1").join();
        store.releaseLocks("tc:404").join();
        assertThat(store.findGlobal("tc:1")).isPresent();
    }

    @Test
    void deleteBranchesKeepsTheGlobalTransaction() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1"), rows("db1", "account:1")).join();
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
        store.releaseLocks("tc:1").join();

        store.deleteBranches("tc:1").join();

        assertThat(store.findBranches("tc:1")).isEmpty();
        assertThat(store.findGlobal("tc:1").orElseThrow().status()).isEqualTo(GlobalStatus.COMMITTED);
    }

    // ---------------------------------------------------------------- history

    @Test
    void historyHasEveryChangeInOrderWithItsTimeAndCauseAndOutlivesTheBranches() throws Exception {
        store.insertGlobal(global("tc:1", clock.millis())).join();
        long begun = clock.millis();
        clock.advance(Duration.ofMillis(5));
        store.registerBranch(branch("tc:1", 11, "db1", "account:1", clock.millis()), rows("db1", "account:1")).join();
        long registered = clock.millis();
        clock.advance(Duration.ofMillis(5));
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "rollback requested by TM",
                ChangeCause.TM).join();
        long decided = clock.millis();
        clock.advance(Duration.ofMillis(5));
        store.updateBranch("tc:1", 11, BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, "dirty write").join();
        store.transitionGlobal("tc:1", GlobalStatus.ROLLBACKING, GlobalStatus.ROLLBACK_FAILED, "dirty write").join();
        long failed = clock.millis();
        clock.advance(Duration.ofMillis(5));
        assertThat(store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "lost race",
                ChangeCause.TM).join()).isFalse();
        store.transitionGlobal("tc:1", GlobalStatus.ROLLBACK_FAILED, GlobalStatus.ROLLBACK_RETRYING,
                "retry requested by admin from 10.0.0.7 over REST", ChangeCause.OPERATOR).join();
        long retried = clock.millis();
        clock.advance(Duration.ofMillis(5));
        store.updateBranch("tc:1", 11, BranchStatus.PHASE2_ROLLBACKED, "").join();
        store.transitionGlobal("tc:1", GlobalStatus.ROLLBACK_RETRYING, GlobalStatus.ROLLBACKED, "rolled back").join();
        long ended = clock.millis();
        store.releaseLocks("tc:1").join();
        store.deleteBranches("tc:1").join();

        List<StatusChange> expected = List.of(
                new StatusChange(begun, StatusChange.GLOBAL, "BEGIN", ChangeCause.TM, ""),
                new StatusChange(registered, 11, "REGISTERED", ChangeCause.RM, "resource db1"),
                new StatusChange(decided, StatusChange.GLOBAL, "ROLLBACKING", ChangeCause.TM, "rollback requested by TM"),
                new StatusChange(failed, 11, "PHASE2_ROLLBACK_FAILED_UNRETRYABLE", ChangeCause.TC, "dirty write"),
                new StatusChange(failed, StatusChange.GLOBAL, "ROLLBACK_FAILED", ChangeCause.TC, "dirty write"),
                new StatusChange(retried, StatusChange.GLOBAL, "ROLLBACK_RETRYING", ChangeCause.OPERATOR,
                        "retry requested by admin from 10.0.0.7 over REST"),
                new StatusChange(ended, 11, "PHASE2_ROLLBACKED", ChangeCause.TC, ""),
                new StatusChange(ended, StatusChange.GLOBAL, "ROLLBACKED", ChangeCause.TC, "rolled back"));
        assertThat(store.history("tc:1")).containsExactlyElementsOf(expected);
        assertThat(store.history("tc:unknown")).isEmpty();

        store = reopen(store);
        assertThat(store.history("tc:1")).as("after a restart").containsExactlyElementsOf(expected);

        clock.advance(Duration.ofMillis(1000));
        store.purgeEndedBefore(clock.millis()).join();
        assertThat(store.history("tc:1")).as("purged with the transaction").isEmpty();
    }

    // ---------------------------------------------------------------- findConflict

    @Test
    void findConflictIgnoresRowsOfTheOwnXid() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1"), rows("db1", "account:1")).join();

        assertThat(store.findConflict(rows("db1", "account:1,2"), "tc:1")).isEmpty();
        assertThat(store.findConflict(rows("db1", "account:2,1"), "tc:2")).hasValueSatisfying(l -> {
            assertThat(l.xid()).isEqualTo("tc:1");
            assertThat(l.row()).isEqualTo(new RowKey("db1", "account", "1"));
        });
        assertThat(store.findConflict(rows("db1", "account:1"), null)).isPresent();
        assertThat(store.findConflict(rows("db1", "account:1"), "")).isPresent();
        assertThat(store.findConflict(List.of(), null)).isEmpty();
    }

    // ---------------------------------------------------------------- listings

    @Test
    void listGlobalsIsNewestFirstFilteredAndPaged() {
        for (int i = 1; i <= 7; i++) {
            store.insertGlobal(global("tc:" + i, 1_000L * i)).join();
        }
        store.transitionGlobal("tc:2", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
        store.transitionGlobal("tc:5", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKED, "").join();

        Page<GlobalTransaction> all = store.listGlobals(GlobalQuery.ALL, 0, 3);
        assertThat(all.items()).extracting(GlobalTransaction::xid).containsExactly("tc:7", "tc:6", "tc:5");
        assertThat(all.total()).isEqualTo(7);
        assertThat(all.page()).isZero();
        assertThat(all.size()).isEqualTo(3);

        assertThat(store.listGlobals(GlobalQuery.ALL, 2, 3).items()).extracting(GlobalTransaction::xid)
                .containsExactly("tc:1");
        assertThat(store.listGlobals(GlobalQuery.ALL, 3, 3).items()).isEmpty();

        Page<GlobalTransaction> begin = store.listGlobals(GlobalQuery.byStatus(EnumSet.of(GlobalStatus.BEGIN)), 1, 2);
        assertThat(begin.items()).extracting(GlobalTransaction::xid).containsExactly("tc:4", "tc:3");
        assertThat(begin.total()).isEqualTo(5);

        Page<GlobalTransaction> ended = store.listGlobals(
                GlobalQuery.byStatus(EnumSet.of(GlobalStatus.COMMITTED, GlobalStatus.ROLLBACKED)), 0, 10);
        assertThat(ended.items()).extracting(GlobalTransaction::xid).containsExactly("tc:5", "tc:2");
        assertThat(ended.total()).isEqualTo(2);
    }

    @Test
    void listGlobalsFiltersByNameApplicationAndAge() {
        store.insertGlobal(new GlobalTransaction("tc:1", "Transfers.transfer", "bank-a", TransactionProtocol.TWO_PHASE,
                GlobalStatus.BEGIN, 1_000, 60_000, "", "", 1_000)).join();
        store.insertGlobal(new GlobalTransaction("tc:2", "Orders.place", "shop", TransactionProtocol.TWO_PHASE,
                GlobalStatus.BEGIN, 2_000, 60_000, "", "", 2_000)).join();
        store.insertGlobal(new GlobalTransaction("tc:3", "Transfers.refund", "shop", TransactionProtocol.TWO_PHASE,
                GlobalStatus.BEGIN, 3_000, 60_000, "", "", 3_000)).join();
        store.transitionGlobal("tc:3", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKED, "").join();

        assertThat(xids(new GlobalQuery(Set.of(), "TRANSFER", "", 0))).containsExactly("tc:3", "tc:1");
        assertThat(xids(new GlobalQuery(Set.of(), "", "shop", 0))).containsExactly("tc:3", "tc:2");
        assertThat(xids(new GlobalQuery(Set.of(), "", "", 2_000))).containsExactly("tc:1");
        assertThat(xids(new GlobalQuery(EnumSet.of(GlobalStatus.BEGIN), "transfers", "", 0))).containsExactly("tc:1");
        Page<GlobalTransaction> none = store.listGlobals(new GlobalQuery(Set.of(), "transfer", "bank-a", 1_000), 0, 10);
        assertThat(none.items()).isEmpty();
        assertThat(none.total()).isZero();
        Page<GlobalTransaction> past = store.listGlobals(new GlobalQuery(Set.of(), "", "shop", 0), 5, 10);
        assertThat(past.items()).isEmpty();
        assertThat(past.total()).isEqualTo(2);
    }

    private List<String> xids(GlobalQuery query) {
        return store.listGlobals(query, 0, 10).items().stream().map(GlobalTransaction::xid).toList();
    }

    @Test
    void listLocksIsOldestFirstFilteredByResourceAndPaged() {
        for (int i = 1; i <= 3; i++) {
            store.insertGlobal(global("tc:" + i, 100 + i)).join();
        }
        store.registerBranch(branch("tc:1", 11, "db1", "account:1", 1_000), rows("db1", "account:1")).join();
        store.registerBranch(branch("tc:2", 21, "db2", "ledger:9", 2_000), rows("db2", "ledger:9")).join();
        store.registerBranch(branch("tc:3", 31, "db1", "account:2", 3_000), rows("db1", "account:2")).join();

        Page<RowLock> all = store.listLocks(null, 0, 10);
        assertThat(all.items()).extracting(RowLock::xid).containsExactly("tc:1", "tc:2", "tc:3");
        assertThat(all.total()).isEqualTo(3);

        Page<RowLock> db1 = store.listLocks("db1", 0, 1);
        assertThat(db1.items()).extracting(l -> l.row().lockKey()).containsExactly("account:1");
        assertThat(db1.total()).isEqualTo(2);
        assertThat(store.listLocks("db1", 1, 1).items()).extracting(l -> l.row().lockKey())
                .containsExactly("account:2");
        assertThat(store.listLocks("db9", 0, 10).total()).isZero();
    }

    @Test
    void findUnendedListsOnlyTransactionsTheTcStillDrives() {
        store.insertGlobal(global("tc:begin", 100)).join();
        store.insertGlobal(global("tc:committing", 101)).join();
        store.insertGlobal(global("tc:committed", 102)).join();
        store.insertGlobal(global("tc:failed", 103)).join();
        store.transitionGlobal("tc:committing", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "").join();
        store.transitionGlobal("tc:committed", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
        store.transitionGlobal("tc:failed", GlobalStatus.BEGIN, GlobalStatus.ROLLBACK_FAILED, "dirty").join();

        assertThat(store.findUnended()).extracting(GlobalTransaction::xid)
                .containsExactlyInAnyOrder("tc:begin", "tc:committing");
    }

    @Test
    void aTcWorksOnTheUnendedTransactionsItBeganAndDecidedAndMayDriveThem() {
        store.insertGlobal(global("tc:begin", 100)).join();
        store.insertGlobal(global("tc:committing", 101)).join();
        store.insertGlobal(global("tc:committed", 102)).join();
        store.transitionGlobal("tc:committing", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "").join();
        store.transitionGlobal("tc:committed", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();

        // No RM connected: what a TC holds is its own whatever it reaches (only takeovers ask).
        assertThat(store.claimUnended(Set.of())).extracting(GlobalTransaction::xid)
                .containsExactlyInAnyOrder("tc:begin", "tc:committing");
        assertThat(store.acquireLease("tc:committing", false).join()).isTrue();
    }

    @Test
    void countByStatusCountsEveryStoredTransaction() {
        for (int i = 1; i <= 4; i++) {
            store.insertGlobal(global("tc:" + i, 100 + i)).join();
        }
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "").join();
        store.transitionGlobal("tc:1", GlobalStatus.COMMITTING, GlobalStatus.COMMITTED, "").join();
        store.transitionGlobal("tc:2", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();

        Map<GlobalStatus, Long> counts = store.countByStatus();
        assertThat(counts.getOrDefault(GlobalStatus.BEGIN, 0L)).isEqualTo(2);
        assertThat(counts.getOrDefault(GlobalStatus.COMMITTED, 0L)).isEqualTo(2);
        assertThat(counts.getOrDefault(GlobalStatus.COMMITTING, 0L)).isZero();

        store.purgeEndedBefore(clock.millis() + 1).join();
        assertThat(store.countByStatus().getOrDefault(GlobalStatus.COMMITTED, 0L)).isZero();
    }

    // ---------------------------------------------------------------- purge

    @Test
    void purgeRemovesOnlyFinalTransactionsLastUpdatedBeforeTheCutoff() {
        for (String xid : List.of("tc:old-committed", "tc:old-rolled-back", "tc:old-needs-person", "tc:old-begin",
                "tc:new-committed")) {
            store.insertGlobal(global(xid, 100)).join();
        }
        store.registerBranch(branch("tc:old-committed", 1, "db1", "account:1"), rows("db1", "account:1")).join();
        store.transitionGlobal("tc:old-committed", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
        store.transitionGlobal("tc:old-rolled-back", GlobalStatus.BEGIN, GlobalStatus.TIMEOUT_ROLLBACKED, "").join();
        store.transitionGlobal("tc:old-needs-person", GlobalStatus.BEGIN, GlobalStatus.COMMIT_FAILED, "").join();
        clock.advance(Duration.ofMillis(10_000));
        long cutoff = clock.millis();
        clock.advance(Duration.ofMillis(1));
        store.transitionGlobal("tc:new-committed", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();

        int removed = store.purgeEndedBefore(cutoff).join();

        assertThat(removed).isEqualTo(2);
        assertThat(store.findGlobal("tc:old-committed")).isEmpty();
        assertThat(store.findBranches("tc:old-committed")).isEmpty();
        assertThat(store.findGlobal("tc:old-rolled-back")).isEmpty();
        assertThat(store.findGlobal("tc:old-needs-person")).isPresent();
        assertThat(store.findGlobal("tc:old-begin")).isPresent();
        assertThat(store.findGlobal("tc:new-committed")).isPresent();
        assertThat(store.listGlobals(GlobalQuery.ALL, 0, 10).total()).isEqualTo(3);
        assertThat(store.purgeEndedBefore(cutoff).join()).isZero();
    }

    // ---------------------------------------------------------------- durability

    @Test
    void everythingAcknowledgedIsThereAfterReopen() throws Exception {
        store.insertGlobal(global("tc:1", 100)).join();
        store.insertGlobal(global("tc:2", 200)).join();
        store.insertGlobal(global("tc:3", 300)).join();
        store.insertGlobal(global("tc:4", 400)).join();
        Branch b11 = branch("tc:1", 11, "db1", "account:1,2");
        Branch b12 = branch("tc:1", 12, "db2", "ledger:5");
        store.registerBranch(b11, rows("db1", "account:1,2")).join();
        store.registerBranch(b12, rows("db2", "ledger:5")).join();
        store.registerBranch(branch("tc:2", 21, "db1", "account:3"), rows("db1", "account:3")).join();
        store.registerBranch(branch("tc:3", 31, "db1", "account:4"), rows("db1", "account:4")).join();
        clock.advance(Duration.ofMillis(1_000));
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "tm commit").join();
        store.updateBranch("tc:1", 11, BranchStatus.PHASE2_COMMITTED, "").join();
        store.transitionGlobal("tc:2", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKED, "tm rollback").join();
        store.releaseLocks("tc:2").join();
        store.deleteBranches("tc:2").join();
        store.transitionGlobal("tc:3", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
        store.markHeuristic("tc:3", "evidence").join();
        store.releaseLocks("tc:3").join();
        clock.advance(Duration.ofMillis(1_000));
        store.transitionGlobal("tc:4", GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
        store.purgeEndedBefore(clock.millis() - 500).join(); // removes tc:2 and tc:3, not tc:4

        StoreView before = StoreView.of(store);
        store = reopen(store);
        StoreView after = StoreView.of(store);

        assertThat(after).usingRecursiveComparison().isEqualTo(before);
        assertThat(after.globals).extracting(GlobalTransaction::xid).containsExactly("tc:4", "tc:1");
        assertThat(store.findBranches("tc:1").get(0).status()).isEqualTo(BranchStatus.PHASE2_COMMITTED);
        assertThat(store.findLocks("tc:1")).hasSize(3);
        assertThat(store.findConflict(rows("db1", "account:3,4"), null)).isEmpty();

        // The reopened store keeps working.
        store.insertGlobal(global("tc:5", 500)).join();
        assertThat(store.registerBranch(branch("tc:5", 51, "db1", "account:1"), rows("db1", "account:1")).join())
                .isInstanceOf(RegisterResult.Conflict.class);
        assertThat(store.registerBranch(branch("tc:5", 52, "db1", "account:3"), rows("db1", "account:3")).join())
                .isEqualTo(new RegisterResult.Registered(52));
    }

    /** A branch failed in phase 1: the TC's rollback-only decision, with its reason, outlives a restart. */
    @Test
    void aRollbackOnlyDecisionKeepsItsReasonAfterReopenAndRefusesNewBranches() throws Exception {
        store.insertGlobal(global("tc:1", 100)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1"), rows("db1", "account:1")).join();
        String reason = "rollback-only: a branch on resource db2 failed in phase 1: lock conflict on account:2";
        assertThat(store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, reason).join()).isTrue();

        store = reopen(store);

        GlobalTransaction tx = store.findGlobal("tc:1").orElseThrow();
        assertThat(tx.status()).isEqualTo(GlobalStatus.ROLLBACKING);
        assertThat(tx.reason()).isEqualTo(reason);
        assertThat(store.findUnended()).extracting(GlobalTransaction::xid).contains("tc:1");
        assertThat(store.registerBranch(branch("tc:1", 12, "db2", "account:2"), rows("db2", "account:2")).join())
                .isEqualTo(new RegisterResult.NotActive(GlobalStatus.ROLLBACKING));
        assertThat(store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "commit").join())
                .as("a commit cannot overtake it").isFalse();
    }

    // ---------------------------------------------------------------- helpers

    /** Everything a store shows, for comparing two stores (or one store before and after reopen). */
    protected record StoreView(List<GlobalTransaction> globals, Map<String, List<Branch>> branches,
                               List<RowLock> locks, Map<GlobalStatus, Long> counts,
                               Map<String, List<StatusChange>> history) {

        public static StoreView of(TransactionStore store) {
            List<GlobalTransaction> globals = store.listGlobals(GlobalQuery.ALL, 0, Integer.MAX_VALUE / 2).items();
            Map<String, List<Branch>> branches = new java.util.TreeMap<>();
            Map<String, List<StatusChange>> history = new java.util.TreeMap<>();
            for (GlobalTransaction tx : globals) {
                branches.put(tx.xid(), store.findBranches(tx.xid()));
                history.put(tx.xid(), store.history(tx.xid()));
            }
            List<RowLock> locks = store.listLocks(null, 0, Integer.MAX_VALUE / 2).items();
            Map<GlobalStatus, Long> counts = new java.util.TreeMap<>();
            store.countByStatus().forEach((s, n) -> {
                if (n > 0) {
                    counts.put(s, n);
                }
            });
            return new StoreView(globals, branches, locks, counts, history);
        }
    }

    protected static GlobalTransaction global(String xid, long beginTimeMs) {
        return new GlobalTransaction(xid, "transfer", "bank", TransactionProtocol.TWO_PHASE, GlobalStatus.BEGIN,
                beginTimeMs, 60_000, "", "", beginTimeMs);
    }

    protected static Branch branch(String xid, long branchId, String resourceId, String... lockKeys) {
        return branch(xid, branchId, resourceId, lockKeys.length == 0 ? "" : lockKeys[0], 1_000 + branchId);
    }

    protected static Branch branch(String xid, long branchId, String resourceId, String lockKey, long registeredAtMs) {
        List<String> keys = lockKey.isEmpty() ? List.of() : List.of(lockKey);
        return new Branch(xid, branchId, resourceId, "rm-" + resourceId, keys,
                new byte[] {1, 2, (byte) branchId}, BranchStatus.REGISTERED, registeredAtMs, "");
    }

    protected static List<RowKey> rows(String resourceId, String... lockKeys) {
        return RowKey.expand(resourceId, List.of(lockKeys));
    }

    protected static void assertSameBranch(Branch actual, Branch expected) {
        assertThat(actual).usingRecursiveComparison().isEqualTo(expected);
    }
}
