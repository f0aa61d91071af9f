package io.cohort.tc.store.embedded;

import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.model.StatusChange;
import io.cohort.tc.store.GlobalQuery;
import io.cohort.tc.store.Page;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Consumer;

/**
 * The store's state in memory. {@link #apply} is the only way to change it and is called by one
 * thread at a time (under the store's mutex, or by recovery before the store is shared); the read
 * methods run concurrently without locks and see each transaction's fields through volatile,
 * copy-on-write snapshots, so a reader never sees half of a change to one transaction.
 *
 * <p><b>Bounded.</b> Only the {@code endedKept} most recently finished transactions (final status)
 * stay: finishing one more drops the one that finished longest ago, in memory only (the log is not
 * touched, and the next snapshot leaves it out). Eviction picks by end time and XID, not by the
 * order records happen to be applied, so recovery, which replays the same records, keeps the same
 * set. Unfinished transactions (active, in phase 2, waiting for a person) always stay; the
 * coordinator caps their number at begin ({@link #unfinished}).
 *
 * <p><b>History.</b> Each transaction keeps its status changes as the records that made them were
 * applied (live or replayed), at most {@link #MAX_HISTORY}: the begin and the latest ones. A snapshot
 * writes them as a {@link LogRecord.History}; a replayed record already in it adds nothing.
 */
final class MemoryState {

    private static final Branch[] NO_BRANCHES = new Branch[0];
    private static final RowLock[] NO_LOCKS = new RowLock[0];
    private static final StatusChange[] NO_CHANGES = new StatusChange[0];

    /** Changes kept per transaction: a transaction retried for days must not grow without end. */
    static final int MAX_HISTORY = 64;

    /** Newest first; the XID breaks ties between transactions begun in the same millisecond. */
    private static final Comparator<OrderKey> NEWEST_FIRST = Comparator.comparingLong(OrderKey::beginTimeMs)
            .thenComparing(OrderKey::xid).reversed();

    /** Oldest first; branch and row break ties so the order is the same on every call. */
    static final Comparator<RowLock> OLDEST_FIRST = Comparator.comparingLong(RowLock::acquiredAtMs)
            .thenComparingLong(RowLock::branchId)
            .thenComparing(l -> l.row().resourceId())
            .thenComparing(l -> l.row().table())
            .thenComparing(l -> l.row().pk());

    /** One global transaction and what hangs off it. Fields are replaced, never mutated in place. */
    static final class TxEntry {
        volatile GlobalTransaction tx;
        volatile Branch[] branches = NO_BRANCHES;
        volatile RowLock[] locks = NO_LOCKS;
        volatile StatusChange[] history = NO_CHANGES;

        TxEntry(GlobalTransaction tx) {
            this.tx = tx;
        }
    }

    private record OrderKey(long beginTimeMs, String xid) {
        static OrderKey of(GlobalTransaction tx) {
            return new OrderKey(tx.beginTimeMs(), tx.xid());
        }
    }

    /** Oldest end first; the XID breaks ties so live and replayed state evict the same transaction. */
    private record EndKey(long endedAtMs, String xid) implements Comparable<EndKey> {
        static EndKey of(GlobalTransaction tx) {
            return new EndKey(tx.updatedAtMs(), tx.xid());
        }

        @Override
        public int compareTo(EndKey o) {
            int c = Long.compare(endedAtMs, o.endedAtMs);
            return c != 0 ? c : xid.compareTo(o.xid);
        }
    }

    private final int endedKept;

    private final ConcurrentHashMap<String, TxEntry> entries = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, TxEntry> unended = new ConcurrentHashMap<>();
    private final ConcurrentSkipListMap<OrderKey, TxEntry> newestFirst = new ConcurrentSkipListMap<>(NEWEST_FIRST);
    private final ConcurrentHashMap<RowKey, RowLock> locks = new ConcurrentHashMap<>();
    /** Transactions per status code: kept up to date so a metrics scrape costs nothing. */
    private final AtomicLongArray counts = new AtomicLongArray(GlobalStatus.values().length + 1);
    /** Finished transactions by end time: only {@link #apply} touches it, so it needs no locking. */
    private final TreeMap<EndKey, TxEntry> finished = new TreeMap<>();
    /** Unfinished transactions per application id, for the per-application cap; no entry at zero. */
    private final ConcurrentHashMap<String, Integer> unfinishedByApplication = new ConcurrentHashMap<>();
    private final AtomicLong unfinished = new AtomicLong();

    /** @param endedKept how many finished transactions to keep, the most recently finished */
    MemoryState(int endedKept) {
        if (endedKept < 0) {
            throw new IllegalArgumentException("endedKept must be >= 0, was " + endedKept);
        }
        this.endedKept = endedKept;
    }

    // ------------------------------------------------------------------ changes (one thread at a time)

    void apply(LogRecord record) {
        if (record instanceof LogRecord.InsertGlobal r) {
            insert(r.tx());
        } else if (record instanceof LogRecord.RegisterBranch r) {
            TxEntry e = entries.get(r.branch().xid());
            if (e != null) {
                e.branches = withBranch(e.branches, r.branch());
                List<RowLock> acquired = new ArrayList<>(r.newRows().size());
                for (RowKey row : r.newRows()) {
                    acquired.add(new RowLock(row, r.branch().xid(), r.branch().branchId(), r.branch().registeredAtMs()));
                }
                putLocks(e, acquired);
                addHistory(e, StatusChange.registered(r.branch(), ChangeCause.RM));
            }
        } else if (record instanceof LogRecord.Transition r) {
            TxEntry e = entries.get(r.xid());
            if (e != null) {
                setTx(e, e.tx.withStatus(r.status(), r.reason(), r.atMs()));
                addHistory(e, new StatusChange(r.atMs(), StatusChange.GLOBAL, r.status().name(), r.cause(), r.reason()));
            }
        } else if (record instanceof LogRecord.Heuristic r) {
            TxEntry e = entries.get(r.xid());
            if (e != null) {
                setTx(e, e.tx.withHeuristic(r.evidence(), r.atMs()));
            }
        } else if (record instanceof LogRecord.UpdateBranch r) {
            TxEntry e = entries.get(r.xid());
            int i = e == null ? -1 : indexOf(e.branches, r.branchId());
            if (i >= 0) {
                Branch[] copy = e.branches.clone();
                copy[i] = copy[i].withStatus(r.status(), r.reason());
                e.branches = copy;
            }
            if (e != null && r.atMs() >= 0) {
                addHistory(e, new StatusChange(r.atMs(), r.branchId(), r.status().name(), r.cause(), r.reason()));
            }
        } else if (record instanceof LogRecord.History r) {
            TxEntry e = entries.get(r.xid());
            if (e != null) {
                e.history = r.changes().toArray(NO_CHANGES);
            }
        } else if (record instanceof LogRecord.ReleaseLocks r) {
            removeLocks(r.rows(), Set.of(r.xid()));
        } else if (record instanceof LogRecord.DeleteBranches r) {
            TxEntry e = entries.get(r.xid());
            if (e != null) {
                e.branches = NO_BRANCHES;
            }
        } else if (record instanceof LogRecord.Purge r) {
            removeLocks(r.rows(), Set.copyOf(r.xids()));
            for (String xid : r.xids()) {
                TxEntry e = entries.get(xid);
                if (e != null) {
                    remove(e);
                }
            }
        } else if (record instanceof LogRecord.SnapshotLock r) {
            TxEntry e = entries.get(r.lock().xid());
            if (e != null) {
                putLocks(e, List.of(r.lock()));
            }
        } else if (!(record instanceof LogRecord.SnapshotEnd)) {
            throw new IllegalArgumentException("cannot apply " + record.getClass().getSimpleName());
        }
    }

    private void insert(GlobalTransaction tx) {
        TxEntry e = entries.get(tx.xid());
        if (e == null) {
            if (tx.status().isFinal() && !keepsFinished(EndKey.of(tx))) {
                return; // replay of one that finished before every one kept: it would be evicted at once
            }
            e = new TxEntry(tx);
            e.history = new StatusChange[] {tx.status() == GlobalStatus.BEGIN
                    ? new StatusChange(tx.beginTimeMs(), StatusChange.GLOBAL, tx.status().name(), ChangeCause.TM, "")
                    : new StatusChange(tx.updatedAtMs(), StatusChange.GLOBAL, tx.status().name(), ChangeCause.UNKNOWN,
                    tx.reason())}; // a snapshot's History replaces this
            entries.put(tx.xid(), e);
            counts.incrementAndGet(tx.status().code());
            newestFirst.put(OrderKey.of(tx), e);
            trackUnended(e);
            trackFinished(e, null);
        } else {
            setTx(e, tx); // replay over a snapshot that already has it
        }
    }

    private void setTx(TxEntry e, GlobalTransaction tx) {
        GlobalTransaction old = e.tx;
        e.tx = tx;
        if (old.status() != tx.status()) {
            counts.decrementAndGet(old.status().code());
            counts.incrementAndGet(tx.status().code());
        }
        if (old.beginTimeMs() != tx.beginTimeMs()) {
            newestFirst.remove(OrderKey.of(old));
            newestFirst.put(OrderKey.of(tx), e);
        }
        trackUnended(e);
        trackFinished(e, old);
    }

    /**
     * Appends {@code change} unless the history has it already (a record replayed over a snapshot
     * that holds its change); past {@link #MAX_HISTORY} drops the oldest change after the begin.
     */
    private static void addHistory(TxEntry e, StatusChange change) {
        StatusChange[] h = e.history;
        for (int i = h.length - 1; i >= 0; i--) {
            if (h[i].equals(change)) {
                return;
            }
        }
        StatusChange[] next;
        if (h.length < MAX_HISTORY) {
            next = Arrays.copyOf(h, h.length + 1);
        } else {
            next = new StatusChange[MAX_HISTORY];
            next[0] = h[0];
            System.arraycopy(h, 2, next, 1, MAX_HISTORY - 2);
        }
        next[next.length - 1] = change;
        e.history = next;
    }

    /** False if {@code key} would be the first to go: the kept ones are full and all ended later. */
    private boolean keepsFinished(EndKey key) {
        return finished.size() < endedKept || !finished.isEmpty() && finished.firstKey().compareTo(key) < 0;
    }

    /** Moves {@code e} into or out of the finished set and the unfinished counts; evicts past the bound. */
    private void trackFinished(TxEntry e, GlobalTransaction old) {
        boolean wasFinal = old != null && old.status().isFinal();
        boolean isFinal = e.tx.status().isFinal();
        if (wasFinal) {
            finished.remove(EndKey.of(old));
        } else if (old != null) {
            countUnfinished(old.applicationId(), -1);
        }
        if (!isFinal) {
            countUnfinished(e.tx.applicationId(), 1);
            return;
        }
        finished.put(EndKey.of(e.tx), e);
        while (finished.size() > endedKept) {
            remove(finished.firstEntry().getValue());
        }
    }

    private void countUnfinished(String applicationId, int delta) {
        unfinished.addAndGet(delta);
        unfinishedByApplication.compute(applicationId, (k, n) -> {
            int next = (n == null ? 0 : n) + delta;
            return next == 0 ? null : next;
        });
    }

    /** Forgets {@code e} with its branches and any row lock it still holds. */
    private void remove(TxEntry e) {
        GlobalTransaction tx = e.tx;
        entries.remove(tx.xid());
        newestFirst.remove(OrderKey.of(tx));
        unended.remove(tx.xid());
        counts.decrementAndGet(tx.status().code());
        if (tx.status().isFinal()) {
            finished.remove(EndKey.of(tx));
        } else {
            countUnfinished(tx.applicationId(), -1);
        }
        for (RowLock l : e.locks) {
            locks.remove(l.row(), l);
        }
    }

    private void trackUnended(TxEntry e) {
        if (e.tx.status().isEnded()) {
            unended.remove(e.tx.xid());
        } else {
            unended.put(e.tx.xid(), e);
        }
    }

    private void putLocks(TxEntry e, List<RowLock> acquired) {
        if (acquired.isEmpty()) {
            return;
        }
        boolean replacedOwn = false;
        for (RowLock lock : acquired) {
            RowLock prev = locks.put(lock.row(), lock);
            if (prev != null) {
                if (prev.xid().equals(lock.xid())) {
                    replacedOwn = true;
                } else {
                    dropFromHolder(prev);
                }
            }
        }
        RowLock[] held = e.locks;
        if (replacedOwn) {
            held = without(held, rowsOf(acquired));
        }
        RowLock[] merged = Arrays.copyOf(held, held.length + acquired.size());
        for (int i = 0; i < acquired.size(); i++) {
            merged[held.length + i] = acquired.get(i);
        }
        e.locks = merged;
    }

    /**
     * Only locks of {@code owners}: replay may have evicted an owner earlier than the live TC did
     * (a smaller {@code endedKept}), and its row may be another transaction's lock by now.
     */
    private void removeLocks(List<RowKey> rows, Set<String> owners) {
        for (RowKey row : rows) {
            RowLock prev = locks.get(row);
            if (prev != null && owners.contains(prev.xid()) && locks.remove(row, prev)) {
                dropFromHolder(prev);
            }
        }
    }

    private void dropFromHolder(RowLock lock) {
        TxEntry holder = entries.get(lock.xid());
        if (holder != null) {
            holder.locks = without(holder.locks, Set.of(lock.row()));
        }
    }

    private static Set<RowKey> rowsOf(List<RowLock> acquired) {
        Set<RowKey> rows = new HashSet<>();
        for (RowLock l : acquired) {
            rows.add(l.row());
        }
        return rows;
    }

    private static RowLock[] without(RowLock[] held, Set<RowKey> rows) {
        int kept = 0;
        RowLock[] out = new RowLock[held.length];
        for (RowLock l : held) {
            if (!rows.contains(l.row())) {
                out[kept++] = l;
            }
        }
        return kept == 0 ? NO_LOCKS : kept == held.length ? held : Arrays.copyOf(out, kept);
    }

    /**
     * Keeps branches in registration order — the order of the log, whatever their ids (an RM may
     * choose them: rollback goes backward through this order); replaces an equal id.
     */
    private static Branch[] withBranch(Branch[] branches, Branch b) {
        int i = indexOf(branches, b.branchId());
        if (i >= 0) {
            Branch[] copy = branches.clone();
            copy[i] = b;
            return copy;
        }
        Branch[] copy = Arrays.copyOf(branches, branches.length + 1);
        copy[branches.length] = b;
        return copy;
    }

    /** Whether the transaction of {@code e} has a branch {@code branchId}. */
    static boolean hasBranch(TxEntry e, long branchId) {
        return indexOf(e.branches, branchId) >= 0;
    }

    private static int indexOf(Branch[] branches, long branchId) {
        for (int i = 0; i < branches.length; i++) {
            if (branches[i].branchId() == branchId) {
                return i;
            }
        }
        return -1;
    }

    /** After recovery: the counters were moved by replayed records over a snapshot; count afresh. */
    void recount() {
        for (int i = 0; i < counts.length(); i++) {
            counts.set(i, 0);
        }
        unfinished.set(0);
        unfinishedByApplication.clear();
        for (TxEntry e : entries.values()) {
            counts.incrementAndGet(e.tx.status().code());
            if (!e.tx.status().isFinal()) {
                countUnfinished(e.tx.applicationId(), 1);
            }
        }
    }

    // ------------------------------------------------------------------ reads (any thread)

    TxEntry entry(String xid) {
        return entries.get(xid);
    }

    /** Transactions not in a final status (active, in phase 2, or waiting for a person). */
    long unfinished() {
        return unfinished.get();
    }

    /** {@link #unfinished()} of one application id. */
    long unfinished(String applicationId) {
        Integer n = unfinishedByApplication.get(applicationId);
        return n == null ? 0 : n;
    }

    RowLock lock(RowKey row) {
        return locks.get(row);
    }

    Optional<RowLock> findConflict(Collection<RowKey> rows, String ownXid) {
        for (RowKey row : rows) {
            RowLock held = locks.get(row);
            if (held != null && !held.xid().equals(ownXid)) {
                return Optional.of(held);
            }
        }
        return Optional.empty();
    }

    Page<GlobalTransaction> listGlobals(GlobalQuery query, int page, int size) {
        long from = (long) page * size;
        long total = 0;
        List<GlobalTransaction> items = new ArrayList<>(Math.min(size, 256));
        for (TxEntry e : newestFirst.values()) {
            GlobalTransaction tx = e.tx;
            if (query.matches(tx)) {
                if (total >= from && items.size() < size) {
                    items.add(tx);
                }
                total++;
            }
        }
        return new Page<>(List.copyOf(items), page, size, total);
    }

    Page<RowLock> listLocks(String resourceIdOrNull, int page, int size) {
        List<RowLock> matching = new ArrayList<>();
        for (RowLock l : locks.values()) {
            if (resourceIdOrNull == null || resourceIdOrNull.equals(l.row().resourceId())) {
                matching.add(l);
            }
        }
        matching.sort(OLDEST_FIRST);
        int from = (int) Math.min((long) page * size, matching.size());
        int to = (int) Math.min((long) from + size, matching.size());
        return new Page<>(List.copyOf(matching.subList(from, to)), page, size, matching.size());
    }

    List<GlobalTransaction> findUnended() {
        List<GlobalTransaction> out = new ArrayList<>(unended.size());
        for (TxEntry e : unended.values()) {
            out.add(e.tx);
        }
        return out;
    }

    Map<GlobalStatus, Long> countByStatus() {
        Map<GlobalStatus, Long> out = new EnumMap<>(GlobalStatus.class);
        for (GlobalStatus s : GlobalStatus.values()) {
            out.put(s, counts.get(s.code()));
        }
        return out;
    }

    Collection<TxEntry> entries() {
        return entries.values();
    }

    int size() {
        return entries.size();
    }

    /**
     * Feeds the whole state, as records, to {@code sink}: each transaction, its branches, then every
     * row lock. Safe to call while another thread applies changes (see the fuzzy-snapshot argument
     * in {@link EmbeddedTransactionStore}); returns what it wrote as a {@link LogRecord.SnapshotEnd}.
     */
    LogRecord.SnapshotEnd writeTo(Consumer<LogRecord> sink) {
        long globals = 0;
        long branches = 0;
        long lockCount = 0;
        for (TxEntry e : entries.values()) {
            sink.accept(new LogRecord.InsertGlobal(e.tx));
            globals++;
            for (Branch b : e.branches) {
                sink.accept(new LogRecord.RegisterBranch(b, List.of()));
                branches++;
            }
            sink.accept(new LogRecord.History(e.tx.xid(), List.of(e.history)));
        }
        for (RowLock l : locks.values()) {
            sink.accept(new LogRecord.SnapshotLock(l));
            lockCount++;
        }
        return new LogRecord.SnapshotEnd(globals, branches, lockCount);
    }
}
