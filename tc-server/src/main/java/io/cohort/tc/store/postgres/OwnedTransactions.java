package io.cohort.tc.store.postgres;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The transactions this replica began, in memory until they end here, so that the coordinator's
 * reads on the hot path (the transaction at every registration and at the commit, the transaction
 * and its branches in phase 2) cost no round trip. Written through: every write of this replica
 * updates the memory on the writer thread, after its commit and before its caller hears of it.
 *
 * <p><b>Writes of other replicas.</b> A registration, branch result, heuristic mark or status change
 * that another replica makes (an RM or TM may reach any replica) adds one to the transaction's
 * {@code changes} column; this replica's own writes to its transactions add nothing. When this
 * replica decides a transaction (a status change it makes), the update returns {@code changes}: if
 * it is still the value the memory was built on and no own write of the transaction is in flight,
 * the memory holds every branch and answers phase 2; otherwise the transaction is forgotten and read
 * from the database from then on. A status change that fails (someone else moved it), a handed-over
 * lease, a recovery pass that finds the transaction moved or no longer ours, and its end forget it
 * too.
 *
 * <p>Before its decision the memory answers only the transaction (not its branches): its fixed
 * parts (timeout, protocol) cannot be stale, and a status another replica changed meanwhile is seen
 * by the write that depends on it (registration checks BEGIN in the database, a decision is a
 * compare-and-set that then fails and forgets). A status query answered by the owner may therefore
 * lag a change made through another replica until that replica's next write to it or this
 * replica's next recovery pass.
 */
final class OwnedTransactions {

    private static final class Entry {
        final long cachedAtNanos = System.nanoTime();
        GlobalTransaction tx;
        /** In registration (branch id) order, as {@code findBranches} answers. */
        final List<Branch> branches = new ArrayList<>();
        /** The value of {@code cohort_global_tx.changes} this memory matches: writes of other replicas. */
        long changes;
        /** Own writes submitted and not yet reflected here. */
        int inFlight;
        /** This replica decided it and found no write of another replica: the branches are complete. */
        boolean verified;
        /** A release of its locks made after its decision was written: no lock of it is left. */
        boolean locksReleased;

        Entry(GlobalTransaction tx) {
            this.tx = tx;
        }
    }

    private final Map<String, Entry> entries = new ConcurrentHashMap<>();

    /** A transaction this replica just stored (status BEGIN, no write of anyone else yet). */
    void begun(GlobalTransaction tx) {
        entries.put(tx.xid(), new Entry(tx));
    }

    /** A transaction this replica just created with its first registration ({@code stored}, or null if refused). */
    void createdWith(GlobalTransaction tx, Branch stored) {
        Entry e = new Entry(tx);
        if (stored != null) {
            e.branches.add(stored);
        }
        entries.put(tx.xid(), e);
    }

    /**
     * Announces a write of this replica to {@code xid}; answers whether it is held here. A write
     * to a transaction not held here must tell the holder, if any (add to {@code changes}).
     */
    boolean startWrite(String xid) {
        Entry e = entries.get(xid);
        if (e == null) {
            return false;
        }
        synchronized (e) {
            e.inFlight++;
        }
        return true;
    }

    /** The end of a write {@link #startWrite} announced as held, whatever its outcome. */
    private Entry endWrite(String xid) {
        Entry e = entries.get(xid);
        if (e != null) {
            synchronized (e) {
                e.inFlight--;
            }
        }
        return e;
    }

    void registered(String xid, Branch stored) {
        Entry e = endWrite(xid);
        if (e != null && stored != null) {
            synchronized (e) {
                e.branches.add(stored); // registration order, as the table's registered_seq (ids may be the RM's)
            }
        }
    }

    void branchUpdated(String xid, long branchId, BranchStatus status, String reason, boolean found) {
        Entry e = endWrite(xid);
        if (e != null && found) {
            synchronized (e) {
                e.branches.replaceAll(b -> b.branchId() == branchId ? b.withStatus(status, reason) : b);
            }
        }
    }

    void heuristicMarked(String xid, String evidence, long atMs, boolean written) {
        Entry e = endWrite(xid);
        if (e != null && written) {
            synchronized (e) {
                e.tx = e.tx.withHeuristic(evidence, atMs);
            }
        }
    }

    /**
     * A status change this replica made, and the {@code changes} it returned ({@code -1}: none).
     * Keeps the transaction only when nothing else wrote to it and it goes on here.
     */
    void transitioned(String xid, GlobalStatus to, String reason, long atMs, boolean moved, long changesAfter) {
        Entry e = entries.get(xid);
        if (e == null) {
            return;
        }
        synchronized (e) {
            if (moved && !to.isEnded() && e.inFlight == 0 && changesAfter == e.changes) {
                e.tx = e.tx.withStatus(to, reason, atMs);
                e.verified = true;
                return;
            }
        }
        entries.remove(xid, e);
    }

    /** The transaction as last written, or null when it is not held here (read the database). */
    GlobalTransaction global(String xid) {
        Entry e = entries.get(xid);
        if (e == null) {
            return null;
        }
        synchronized (e) {
            return e.tx;
        }
    }

    /** Its branches once this replica decided it, or null (read the database). */
    List<Branch> branches(String xid) {
        Entry e = entries.get(xid);
        if (e == null) {
            return null;
        }
        synchronized (e) {
            return e.verified ? List.copyOf(e.branches) : null;
        }
    }

    /**
     * Every row {@code xid} can hold a lock on, once this replica decided it and its branches here
     * are complete (see {@link #branches}); null otherwise (its branch rows tell).
     */
    List<RowKey> lockableRows(String xid) {
        List<Branch> complete = branches(xid);
        return complete == null ? null : rowsOf(complete);
    }

    /**
     * The rows of the branches this replica registered in {@code xid}, complete or not (null when it
     * does not hold it): what its commit decision frees in the same write (see {@link #decisionReleased}).
     */
    List<RowKey> knownRows(String xid) {
        Entry e = entries.get(xid);
        if (e == null) {
            return null;
        }
        synchronized (e) {
            return rowsOf(e.branches);
        }
    }

    private static List<RowKey> rowsOf(List<Branch> branches) {
        List<RowKey> rows = new ArrayList<>();
        for (Branch b : branches) {
            rows.addAll(RowKey.expand(b.resourceId(), b.lockKeys())); // parsed at its registration already
        }
        return rows;
    }

    void forget(String xid) {
        entries.remove(xid);
    }

    /**
     * Whether this replica's memory has {@code xid} decided. The memory moves only after the move
     * committed, and a registration needs BEGIN in the database: a lock release made now removes
     * every lock the transaction will ever have had.
     */
    boolean decided(String xid) {
        GlobalTransaction tx = global(xid);
        return tx != null && tx.status() != GlobalStatus.BEGIN;
    }

    /** A release that {@link #decided} allowed was committed. */
    void locksReleased(String xid) {
        Entry e = entries.get(xid);
        if (e != null) {
            synchronized (e) {
                e.locksReleased = true;
            }
        }
    }

    /**
     * The decision of {@code xid} that deleted the locks of {@code rows} was written, and
     * {@link #transitioned} has run for it: no lock is left if the memory is now complete and those rows
     * are all its branches'. Otherwise (another replica's write, or a registration that landed after
     * the rows were read) the flag stays unset, and the coordinator's release after the decision frees
     * what is left.
     */
    void decisionReleased(String xid, Collection<RowKey> rows) {
        List<RowKey> all = lockableRows(xid);
        if (all != null && rows.containsAll(all)) {
            locksReleased(xid);
        }
    }

    /** No lock of {@code xid} is left: releasing again would find nothing. */
    boolean locksGone(String xid) {
        Entry e = entries.get(xid);
        if (e == null) {
            return false;
        }
        synchronized (e) {
            return e.locksReleased;
        }
    }

    /**
     * After a recovery pass that started at {@code startNanos} answered the unended transactions
     * this replica holds: forgets those held here since before the pass that it no longer holds
     * or whose status moved through another replica.
     */
    void retainClaimed(List<GlobalTransaction> claimed, long startNanos) {
        Map<String, GlobalStatus> statuses = new HashMap<>();
        claimed.forEach(tx -> statuses.put(tx.xid(), tx.status()));
        entries.entrySet().removeIf(en -> {
            Entry e = en.getValue();
            synchronized (e) {
                GlobalStatus stored = statuses.get(en.getKey());
                return stored == null ? e.cachedAtNanos - startNanos < 0 : stored != e.tx.status();
            }
        });
    }

    int size() {
        return entries.size();
    }
}
