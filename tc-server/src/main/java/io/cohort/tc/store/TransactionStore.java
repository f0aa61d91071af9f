package io.cohort.tc.store;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.model.StatusChange;
import java.time.Clock;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Where the TC keeps global transactions, branches and global row locks. Two implementations:
 * the embedded store (local files, the default) and the PostgreSQL store (shared by replicas).
 *
 * <p><b>Durability.</b> Every write returns a future that completes once the write is durable
 * (it survives {@code kill -9} of the TC and a power loss), except {@link #insertGlobal}, whose
 * future completes once the transaction is visible to the other calls: an embedded store may make
 * it durable with the next write. That is safe because nobody can depend on a global transaction
 * before a branch is registered in it or a decision is logged for it, and both of those are
 * durable writes that come after it. Implementations batch concurrent writes so many share one
 * fsync (group commit).
 *
 * <p><b>Atomicity.</b> Every method is atomic on its own: {@link #registerBranch} either stores the
 * branch with all its row locks or stores nothing; {@link #transitionGlobal} is a compare-and-set,
 * so two replicas (or two threads) cannot both move a transaction out of the same status.
 *
 * <p><b>Failures.</b> A future fails with {@link StoreUnavailableException} when the store cannot
 * write (disk full, database down); the caller must then treat the write as not done.
 *
 * <p><b>Ownership.</b> A store shared by several TC replicas gives each unended transaction to one
 * replica at a time through a lease: {@link #insertGlobal} and {@link #transitionGlobal} make the
 * calling replica the owner, {@link #claimUnended} answers only what the caller owns (taking over
 * expired leases), and only the owner drives phase 2, timeouts and retries. A single-node store
 * owns everything: the lease methods' defaults say so.
 *
 * <p><b>History.</b> Each status change is recorded with the change, with its time and
 * {@link ChangeCause}, in the same durable write ({@link #history}).
 *
 * <p>Finished transactions (final status) stay readable with their outcome for a retention period
 * ({@link #purgeEndedBefore}); their branches and locks may be dropped once they end.
 */
public interface TransactionStore extends AutoCloseable {

    /** Stores a new global transaction (status BEGIN). Fails if the XID exists already. */
    CompletableFuture<Void> insertGlobal(GlobalTransaction tx);

    /**
     * Stores {@code tx} unless its XID exists already (an XID the TM made, created by whichever request
     * reaches the TC first): completes with whether this call created it. Atomic across every replica
     * sharing the store, so two first requests at once leave exactly one transaction; the one that lost
     * changed nothing. Durable like {@link #insertGlobal}; {@code tx} may be in a final status (a commit
     * or rollback of a transaction nobody registered a branch in), recorded so that a late registration
     * finds it ended instead of creating it again.
     */
    CompletableFuture<Boolean> createGlobal(GlobalTransaction tx);

    /**
     * Atomically: checks the global transaction exists and is in BEGIN, checks that no other XID
     * holds any of {@code rows} (rows already held by the same XID are fine), then stores the
     * branch and a lock on every row. Durable when the future completes with {@code Registered}.
     */
    CompletableFuture<RegisterResult> registerBranch(Branch branch, List<RowKey> rows);

    /** What {@link #createAndRegister} did: whether it created the transaction, and the registration's result. */
    record CreatedRegistration(boolean created, RegisterResult result) {
    }

    /**
     * {@link #createGlobal} of {@code tx} (in BEGIN) followed by {@link #registerBranch}: the first
     * registration of an XID the TM made. A store may write both in one durable write (one commit);
     * the registration then sees the transaction as any registration would (one another request
     * created meanwhile, or ended, refuses it as usual). {@code created} is false when the XID existed.
     */
    default CompletableFuture<CreatedRegistration> createAndRegister(GlobalTransaction tx, Branch branch,
                                                                     List<RowKey> rows) {
        return createGlobal(tx).thenCompose(created -> registerBranch(branch, rows)
                .thenApply(result -> new CreatedRegistration(created, result)));
    }

    /**
     * {@link #findGlobal} when the store can answer without a round trip to a database; empty when it
     * would have to read (a caller that would create a missing transaction anyway then lets
     * {@link #createAndRegister} find out instead of reading first).
     */
    default Optional<GlobalTransaction> findGlobalWithoutReading(String xid) {
        return findGlobal(xid);
    }

    /**
     * Compare-and-set of the global status: moves {@code xid} to {@code to} only if its current
     * status is {@code from}. Completes with false (and changes nothing) otherwise or if unknown.
     * The caller checks the transition is legal; the store only guards against races.
     */
    CompletableFuture<Boolean> transitionGlobal(String xid, GlobalStatus from, GlobalStatus to, String reason,
                                                ChangeCause cause);

    /** {@link #transitionGlobal(String, GlobalStatus, GlobalStatus, String, ChangeCause)} by the TC driving phase 2. */
    default CompletableFuture<Boolean> transitionGlobal(String xid, GlobalStatus from, GlobalStatus to, String reason) {
        return transitionGlobal(xid, from, to, reason, ChangeCause.TC);
    }

    /** Sets the heuristic-outcome flag with its evidence. */
    CompletableFuture<Void> markHeuristic(String xid, String evidence);

    /** Sets a branch's status. Completes with false if the branch is unknown. */
    CompletableFuture<Boolean> updateBranch(String xid, long branchId, BranchStatus status, String reason,
                                            ChangeCause cause);

    /** {@link #updateBranch(String, long, BranchStatus, String, ChangeCause)} by the TC driving phase 2. */
    default CompletableFuture<Boolean> updateBranch(String xid, long branchId, BranchStatus status, String reason) {
        return updateBranch(xid, branchId, status, reason, ChangeCause.TC);
    }

    /** Releases every row lock held by {@code xid}. */
    CompletableFuture<Void> releaseLocks(String xid);

    /**
     * Whether a write is seen by every later call as soon as the call that makes it returns, and
     * writes become durable strictly in that order, so nothing written after it can be durable (and
     * answered) before it. The embedded store's memory and log are; then rows being released can be
     * handed to a waiting registration at once, in the same fsync as the release. False for a store
     * whose writes show only once durable (PostgreSQL): its rows are handed on after the release.
     */
    default boolean durableInApplyOrder() {
        return false;
    }

    /**
     * Drops the branches of an ended transaction (its row in the global table stays): neither
     * {@link #findBranches} nor recovery sees them again. A store may keep their rows, read only by
     * {@link #history}, until the retention purge.
     */
    CompletableFuture<Void> deleteBranches(String xid);

    Optional<GlobalTransaction> findGlobal(String xid);

    /** The branches of {@code xid} in registration order. */
    List<Branch> findBranches(String xid);

    /** The row locks held by {@code xid}. */
    List<RowLock> findLocks(String xid);

    /**
     * The first row among {@code rows} locked by an XID other than {@code ownXid} (which may be
     * null or empty outside a global transaction), if any.
     */
    Optional<RowLock> findConflict(Collection<RowKey> rows, String ownXid);

    /**
     * Every status change of {@code xid} (its begin, each move of its status, each branch registered
     * and each branch status set), oldest first, written with the change itself: as long as the
     * transaction is kept. Empty if unknown. Bounded per transaction on the embedded store (the
     * begin and the latest changes are kept).
     */
    List<StatusChange> history(String xid);

    /** Global transactions that match {@code query}, newest first. */
    Page<GlobalTransaction> listGlobals(GlobalQuery query, int page, int size);

    /** Row locks, oldest first, optionally only those on one resource. */
    Page<RowLock> listLocks(String resourceIdOrNull, int page, int size);

    /** Every global transaction that has not ended (the TC's recovery work list). */
    List<GlobalTransaction> findUnended();

    /**
     * The unended transactions this TC should work on (timeouts, phase 2): on a single-node store
     * all of them. On a shared store, those whose lease this replica holds, after it took over those
     * whose lease expired and whose every branch is on one of {@code reachableResources} (resources
     * an RM announced to this replica), each by exactly one replica.
     */
    default List<GlobalTransaction> claimUnended(Set<String> reachableResources) {
        return findUnended();
    }

    /**
     * Makes this replica the owner of {@code xid} if nobody else holds a live lease on it, or
     * whatever the lease when {@code evenIfHeld} (a person asked this replica to act). Completes
     * with whether this replica owns it now; always true on a single-node store.
     */
    default CompletableFuture<Boolean> acquireLease(String xid, boolean evenIfHeld) {
        return CompletableFuture.completedFuture(true);
    }

    /**
     * Gives up this replica's lease on {@code xid} so that a replica that can reach its RMs takes it
     * over. Answers whether another replica may now drive it: false on a single-node store, where
     * the caller must keep the transaction.
     */
    default boolean releaseLease(String xid) {
        return false;
    }

    /**
     * The clock every replica sharing this store agrees on, if the store has one: the TC then
     * decides by it (begin times, timeouts, retry times), so a replica whose own clock is off
     * neither times out another replica's transaction early nor keeps it late. Empty for a
     * single-node store: the process's clock is the only one.
     */
    default Optional<Clock> sharedClock() {
        return Optional.empty();
    }

    /**
     * Removes transactions in a final status (committed or rolled back; not those waiting for a
     * person) last updated before the cutoff, with their branches. Completes with the number removed.
     */
    CompletableFuture<Integer> purgeEndedBefore(long cutoffEpochMs);

    /** Transactions not in a final status (active, in phase 2, or waiting for a person): in all and of one application. */
    record Unfinished(long total, long ofApplication) {
    }

    /**
     * Counts {@link Unfinished} transactions, for the caps at begin; cheap enough to call on every
     * begin. A shared store may answer from a recent count (see {@link #countUnfinishedExactly}).
     */
    Unfinished countUnfinished(String applicationId);

    /** {@link #countUnfinished} counted now, for a refusal: a cap refuses only on an exact count. */
    default Unfinished countUnfinishedExactly(String applicationId) {
        return countUnfinished(applicationId);
    }

    /**
     * {@link #countUnfinished} if the store can answer it without a read on the caller's thread
     * (from memory, or a recent count it refreshes in the background), else empty.
     */
    default Optional<Unfinished> countUnfinishedWithoutReading(String applicationId) {
        return Optional.of(countUnfinished(applicationId));
    }

    /**
     * Why a well-formed XID may be unknown to this store, for the refusal a client or person reads:
     * it never began here, or it ended and is gone (and after how much).
     */
    String whyUnknown();

    /** Counts global transactions per status, for metrics. */
    Map<GlobalStatus, Long> countByStatus();

    /** Throws {@link StoreUnavailableException} with the reason when the store cannot serve. */
    void checkHealth();

    @Override
    void close();
}
