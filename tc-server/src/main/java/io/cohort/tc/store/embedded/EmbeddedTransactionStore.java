package io.cohort.tc.store.embedded;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.model.StatusChange;
import io.cohort.tc.store.GlobalQuery;
import io.cohort.tc.store.Page;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.StoreUnavailableException;
import io.cohort.tc.store.TransactionStore;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The default TC store: state in memory, made durable by a write-ahead log on local disk, for a
 * single TC node. Opening it (the constructor) locks the directory and recovers the state.
 *
 * <p><b>Writes.</b> Each change is checked, applied to memory and queued as a log record inside one
 * short critical section (a single mutex: a few map operations and encoding ~100 bytes, about a
 * microsecond; at thousands of transactions per second it is far from contended, and it makes
 * {@code registerBranch} atomic with {@code transitionGlobal} and {@code releaseLocks} trivially).
 * The queue order is therefore the memory order. The {@link LogWriter} thread writes whatever is
 * queued with one write and one {@code force(false)}: group commit comes from the records that
 * arrive while an fsync runs (plus {@code maxBatchDelay}, if configured). Futures complete after
 * that fsync on a separate completer thread, one hand-off per batch, so the writer never runs
 * callers' code. A caller's non-async continuation runs on the completer thread: it must not block,
 * and above all must not {@code join()} another store future (that future needs this very thread
 * to complete); continuations that block belong on the caller's executor ({@code *Async}).
 * {@code insertGlobal} completes at once: its record is made durable by the next write after it.
 *
 * <p><b>Visibility.</b> A change is visible to readers as soon as it is applied, possibly a fsync
 * before it is durable (as in most group-commit logs). A write that completes proves every record
 * queued before it durable, so the rule for the TC is: act on the outcome of your own completed
 * write (the CAS that moved the transaction), not on a status you merely read; a reader that must
 * act on a read can first complete any write for that XID. Negative answers (a lost CAS, a
 * conflict, an unknown XID, an unknown branch) change nothing and complete at once; writes that
 * find nothing to do (release without locks) complete once everything queued before is durable.
 *
 * <p><b>Failure.</b> If a write or fsync fails, the store fails: every pending and later write
 * fails with {@link StoreUnavailableException}, reads throw it too, and {@link #checkHealth()}
 * reports it. Memory already holds the failed changes, and after a failed fsync the kernel may have
 * dropped the dirty pages while a retried fsync reports success, so the only state known to match
 * the disk is what recovery reads back. The writer therefore retries every second: once a probe
 * write as large as the failed batch succeeds (space came back), it cuts the log back to the end of
 * the last batch that was forced (everything after it failed, so nothing cut was acknowledged), and
 * the store rebuilds its memory from the files as at start and takes writes again. A store that
 * stays failed is reported by {@link #failedFor()} so the liveness probe can have the TC restarted.
 *
 * <p><b>Compaction</b> ({@link Compactor}). When the log segment passes
 * {@code compactionThresholdBytes}, the writer (between two batches, so only for the time of
 * creating a file) switches to a new segment {@code log-(g+1)} and a background thread writes
 * {@code snapshot-(g+1)} while writes go on. That snapshot is fuzzy: it holds everything before the
 * switch plus some later changes. Replaying {@code log-(g+1)} over it still gives the exact state
 * because every record is an absolute assignment ({@link LogRecord}). The snapshot replaces the old
 * files only once a barrier queued after it was read has completed, i.e. once everything it may
 * contain is durable in the log.
 */
public final class EmbeddedTransactionStore implements TransactionStore {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedTransactionStore.class);
    private static final int PURGE_CHUNK = 1000;

    private final EmbeddedStoreConfig config;
    private final Path directory;
    private final Clock clock;
    private final MeterRegistry registry;
    /** Replaced, under the mutex, when the store reopens its files after a write failure. */
    private volatile MemoryState state;
    private final ReentrantLock mutex = new ReentrantLock();
    private final DirectoryLock directoryLock;
    private final ExecutorService completer = singleThread("cohort-store-completer");
    private final Compactor compactor;
    private final AtomicLong logBytes = new AtomicLong();
    private final List<Meter> meters = new ArrayList<>();
    private final LogWriter writer;

    private volatile StoreUnavailableException failure;
    /** {@link System#nanoTime()} when the current failure began; meaningful only while {@code failure} is set. */
    private volatile long failedSince;
    private volatile boolean closed;

    /**
     * Opens (creating if needed) the store in {@code config.directory()}, recovering its state.
     *
     * @throws IllegalStateException                 if another process has the directory open
     * @throws EmbeddedStoreCorruptedException       if the files are damaged beyond a torn last write
     * @throws UncheckedIOException                  if the files cannot be read
     */
    public EmbeddedTransactionStore(EmbeddedStoreConfig config, Clock clock, MeterRegistry registry) {
        this.config = config;
        this.directory = config.directory().toAbsolutePath();
        this.clock = clock;
        this.registry = registry;
        this.state = new MemoryState(config.endedKept());
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the store directory " + directory, e);
        }
        this.directoryLock = DirectoryLock.acquire(directory);
        this.compactor = new Compactor(directory, config, () -> state, this::durableBarrier);
        try {
            Recovery.Result recovered = Recovery.run(directory, state, config.fsync());
            Timer fsyncTimer = Timer.builder("cohort.store.fsync")
                    .description("Duration of each fsync of the embedded store's log")
                    .publishPercentileHistogram()
                    .register(registry);
            DistributionSummary batchSize = DistributionSummary.builder("cohort.store.batch.size")
                    .description("Records written per fsync (group commit)")
                    .register(registry);
            Gauge gauge = Gauge.builder("cohort.store.log.bytes", logBytes, AtomicLong::get)
                    .description("Size of the current log segment").baseUnit("bytes")
                    .register(registry);
            meters.addAll(List.of(fsyncTimer, batchSize, gauge));
            this.writer = new LogWriter(directory, recovered.channel(), recovered.generation(), config, completer,
                    fsyncTimer, batchSize, logBytes, this::fail, this::reopen, w -> compactor.maybeStart(w));
            writer.start();
        } catch (IOException e) {
            abandonOpen();
            throw new UncheckedIOException("Cannot open the Cohort TC store in " + directory + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            abandonOpen();
            throw e;
        }
    }

    private void abandonOpen() {
        completer.shutdownNow();
        compactor.shutdownNow();
        meters.forEach(registry::remove);
        directoryLock.release();
    }

    private static ExecutorService singleThread(String name) {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    // ------------------------------------------------------------------ writes

    @Override
    public CompletableFuture<Void> insertGlobal(GlobalTransaction tx) {
        return createGlobal(tx).thenApply(created -> {
            if (!created) {
                throw new IllegalStateException("Global transaction " + tx.xid() + " exists already");
            }
            return null;
        });
    }

    @Override
    public CompletableFuture<Boolean> createGlobal(GlobalTransaction tx) {
        return changing(() -> {
            if (state.entry(tx.xid()) != null) {
                return CompletableFuture.completedFuture(false);
            }
            LogRecord record = new LogRecord.InsertGlobal(tx);
            byte[] frame = RecordCodec.encode(record);
            state.apply(record);
            writer.append(frame, null, null);
            return CompletableFuture.completedFuture(true);
        });
    }

    @Override
    public CompletableFuture<RegisterResult> registerBranch(Branch branch, List<RowKey> rows) {
        return changing(() -> {
            MemoryState.TxEntry entry = state.entry(branch.xid());
            if (entry == null) {
                return CompletableFuture.completedFuture(new RegisterResult.UnknownXid());
            }
            if (entry.tx.status() != GlobalStatus.BEGIN) {
                return CompletableFuture.completedFuture(new RegisterResult.NotActive(entry.tx.status()));
            }
            if (MemoryState.hasBranch(entry, branch.branchId())) {
                return CompletableFuture.completedFuture(new RegisterResult.DuplicateBranch());
            }
            List<RowKey> newRows = new ArrayList<>(rows.size());
            Set<RowKey> seen = rows.size() > 8 ? new HashSet<>() : null;
            for (RowKey row : rows) {
                RowLock held = state.lock(row);
                if (held == null) {
                    if (seen != null ? seen.add(row) : !newRows.contains(row)) {
                        newRows.add(row);
                    }
                } else if (!held.xid().equals(branch.xid())) {
                    return CompletableFuture.completedFuture(new RegisterResult.Conflict(held));
                }
            }
            return write(new LogRecord.RegisterBranch(branch, newRows), new RegisterResult.Registered(branch.branchId()));
        });
    }

    @Override
    public CompletableFuture<Boolean> transitionGlobal(String xid, GlobalStatus from, GlobalStatus to, String reason,
                                                       ChangeCause cause) {
        long now = clock.millis();
        return changing(() -> {
            MemoryState.TxEntry entry = state.entry(xid);
            if (entry == null || entry.tx.status() != from) {
                return CompletableFuture.completedFuture(false);
            }
            return write(new LogRecord.Transition(xid, to, reason == null ? "" : reason, now, cause), Boolean.TRUE);
        });
    }

    @Override
    public CompletableFuture<Void> markHeuristic(String xid, String evidence) {
        long now = clock.millis();
        return changing(() -> {
            if (state.entry(xid) == null) {
                return barrier();
            }
            return write(new LogRecord.Heuristic(xid, evidence == null ? "" : evidence, now), null);
        });
    }

    @Override
    public CompletableFuture<Boolean> updateBranch(String xid, long branchId, BranchStatus status, String reason,
                                                   ChangeCause cause) {
        long now = clock.millis();
        return changing(() -> {
            MemoryState.TxEntry entry = state.entry(xid);
            if (entry == null || !hasBranch(entry, branchId)) {
                return CompletableFuture.completedFuture(false);
            }
            return write(new LogRecord.UpdateBranch(xid, branchId, status, reason == null ? "" : reason,
                    now, cause), Boolean.TRUE);
        });
    }

    private static boolean hasBranch(MemoryState.TxEntry entry, long branchId) {
        for (Branch b : entry.branches) {
            if (b.branchId() == branchId) {
                return true;
            }
        }
        return false;
    }

    /** Memory is changed and the record queued under one mutex, and the log is written in queue order. */
    @Override
    public boolean durableInApplyOrder() {
        return true;
    }

    @Override
    public CompletableFuture<Void> releaseLocks(String xid) {
        return changing(() -> {
            MemoryState.TxEntry entry = state.entry(xid);
            if (entry == null || entry.locks.length == 0) {
                return barrier(); // nothing to release; answer once what we answer from is durable
            }
            List<RowKey> rows = new ArrayList<>(entry.locks.length);
            for (RowLock l : entry.locks) {
                rows.add(l.row());
            }
            return write(new LogRecord.ReleaseLocks(xid, rows), null);
        });
    }

    @Override
    public CompletableFuture<Void> deleteBranches(String xid) {
        return changing(() -> {
            MemoryState.TxEntry entry = state.entry(xid);
            if (entry == null || entry.branches.length == 0) {
                return barrier();
            }
            return write(new LogRecord.DeleteBranches(xid), null);
        });
    }

    @Override
    public CompletableFuture<Integer> purgeEndedBefore(long cutoffEpochMs) {
        List<String> candidates = new ArrayList<>();
        for (MemoryState.TxEntry e : state.entries()) {
            if (purgeable(e.tx, cutoffEpochMs)) {
                candidates.add(e.tx.xid());
            }
        }
        List<CompletableFuture<Void>> chunks = new ArrayList<>();
        int total = 0;
        for (int from = 0; from < candidates.size() || from == 0; from += PURGE_CHUNK) {
            List<String> xids = new ArrayList<>();
            List<RowKey> rows = new ArrayList<>();
            mutex.lock();
            try {
                StoreUnavailableException refused = refusal();
                if (refused != null) {
                    return CompletableFuture.failedFuture(refused);
                }
                for (String xid : candidates.subList(from, Math.min(from + PURGE_CHUNK, candidates.size()))) {
                    MemoryState.TxEntry e = state.entry(xid);
                    if (e != null && purgeable(e.tx, cutoffEpochMs)) {
                        xids.add(xid);
                        for (RowLock l : e.locks) {
                            rows.add(l.row());
                        }
                    }
                }
                chunks.add(xids.isEmpty() ? barrier() : write(new LogRecord.Purge(xids, rows), null));
                total += xids.size();
            } finally {
                mutex.unlock();
            }
        }
        int removed = total;
        return CompletableFuture.allOf(chunks.toArray(CompletableFuture[]::new)).thenApply(v -> removed);
    }

    private static boolean purgeable(GlobalTransaction tx, long cutoffEpochMs) {
        return tx.status().isFinal() && tx.updatedAtMs() < cutoffEpochMs;
    }

    /** Caller holds the mutex: apply to memory and queue, in that order, so both orders agree. */
    private <T> CompletableFuture<T> write(LogRecord record, T result) {
        byte[] frame = RecordCodec.encode(record);
        state.apply(record);
        CompletableFuture<T> future = new CompletableFuture<>();
        writer.append(frame, future, result);
        return future;
    }

    /** Caller holds the mutex: completes once everything queued so far is durable. */
    private <T> CompletableFuture<T> barrier() {
        CompletableFuture<T> future = new CompletableFuture<>();
        writer.append(null, future, null);
        return future;
    }

    /**
     * Runs {@code change} under the mutex, unless the store refuses changes (its disk failed, or it is
     * closed): then the refusal, and {@code change} does not run.
     */
    private <T> CompletableFuture<T> changing(Supplier<CompletableFuture<T>> change) {
        mutex.lock();
        try {
            StoreUnavailableException refused = refusal();
            return refused != null ? CompletableFuture.failedFuture(refused) : change.get();
        } finally {
            mutex.unlock();
        }
    }

    /** Caller holds the mutex. */
    private StoreUnavailableException refusal() {
        StoreUnavailableException f = failure;
        if (f != null) {
            return f;
        }
        return closed ? new StoreUnavailableException("The embedded store in " + directory + " is closed") : null;
    }

    private void fail(StoreUnavailableException cause) {
        mutex.lock();
        try {
            failedSince = System.nanoTime();
            failure = cause;
        } finally {
            mutex.unlock();
        }
    }

    /**
     * On the writer thread, once the disk takes writes again and the failed batch is cut off the
     * log: memory holds changes that failed, so it is rebuilt from the files, exactly as at start.
     * Null (try again later) while a compaction is still winding down or the store is closing.
     */
    private Recovery.Result reopen(Runnable failQueued) throws IOException {
        mutex.lock();
        try {
            if (closed || compactor.busy()) {
                return null;
            }
            failQueued.run();
            MemoryState fresh = new MemoryState(config.endedKept());
            Recovery.Result reopened = Recovery.run(directory, fresh, config.fsync());
            state = fresh;
            failure = null;
            return reopened;
        } finally {
            mutex.unlock();
        }
    }

    /**
     * How long the store has been failed without a break (zero while it works): the liveness probe
     * goes DOWN past a bound so an orchestrator restarts a TC whose disk does not come back.
     */
    public Duration failedFor() {
        return failure == null ? Duration.ZERO : Duration.ofNanos(System.nanoTime() - failedSince);
    }

    // ------------------------------------------------------------------ reads

    @Override
    public Optional<GlobalTransaction> findGlobal(String xid) {
        ensureReadable();
        MemoryState.TxEntry e = state.entry(xid);
        return e == null ? Optional.empty() : Optional.of(e.tx);
    }

    @Override
    public List<Branch> findBranches(String xid) {
        ensureReadable();
        MemoryState.TxEntry e = state.entry(xid);
        return e == null ? List.of() : List.of(e.branches);
    }

    @Override
    public List<RowLock> findLocks(String xid) {
        ensureReadable();
        MemoryState.TxEntry e = state.entry(xid);
        return e == null ? List.of() : List.of(e.locks);
    }

    @Override
    public List<StatusChange> history(String xid) {
        ensureReadable();
        MemoryState.TxEntry e = state.entry(xid);
        return e == null ? List.of() : List.of(e.history);
    }

    @Override
    public Optional<RowLock> findConflict(Collection<RowKey> rows, String ownXid) {
        ensureReadable();
        return state.findConflict(rows, ownXid);
    }

    @Override
    public Page<GlobalTransaction> listGlobals(GlobalQuery query, int page, int size) {
        ensureReadable();
        checkPage(page, size);
        return state.listGlobals(query, page, size);
    }

    @Override
    public Page<RowLock> listLocks(String resourceIdOrNull, int page, int size) {
        ensureReadable();
        checkPage(page, size);
        return state.listLocks(resourceIdOrNull, page, size);
    }

    private static void checkPage(int page, int size) {
        if (page < 0 || size < 1) {
            throw new IllegalArgumentException("page must be >= 0 and size >= 1, got page=" + page + " size=" + size);
        }
    }

    @Override
    public List<GlobalTransaction> findUnended() {
        ensureReadable();
        return state.findUnended();
    }

    @Override
    public Unfinished countUnfinished(String applicationId) {
        return new Unfinished(state.unfinished(), state.unfinished(applicationId == null ? "" : applicationId));
    }

    @Override
    public String whyUnknown() {
        return "it never began on this TC, or it finished and is no longer kept: the embedded store keeps only the "
                + config.endedKept() + " most recently finished transactions (cohort.tc.limits.ended-kept), each at most"
                + " for the retention period (cohort.tc.recovery.retention)";
    }

    @Override
    public Map<GlobalStatus, Long> countByStatus() {
        ensureReadable();
        return state.countByStatus();
    }

    private void ensureReadable() {
        StoreUnavailableException f = failure;
        if (f != null) {
            throw new StoreUnavailableException("The embedded store in " + directory + " failed (it reopens by itself"
                    + " once its disk takes writes again): " + f.getMessage(), f);
        }
    }

    @Override
    public void checkHealth() {
        ensureReadable();
        if (closed) {
            throw new StoreUnavailableException("The embedded store in " + directory + " is closed");
        }
        if (!writer.isAlive()) {
            throw new StoreUnavailableException("The log writer of the embedded store in " + directory + " has stopped");
        }
    }

    /** For compaction: completes once every change applied so far is durable; fails if the store failed. */
    private CompletableFuture<Object> durableBarrier() {
        mutex.lock();
        try {
            StoreUnavailableException f = failure;
            return f != null ? CompletableFuture.failedFuture(f) : barrier();
        } finally {
            mutex.unlock();
        }
    }

    // ------------------------------------------------------------------ close

    /** Writes and forces everything queued, stops the threads and releases the directory. */
    @Override
    public void close() {
        mutex.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
        } finally {
            mutex.unlock();
        }
        try {
            compactor.shutdown();
            writer.stop();
            writer.join();
            completer.shutdown();
            completer.awaitTermination(1, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.warn("Interrupted while closing the store in {}; records not yet written are lost", directory);
        } finally {
            meters.forEach(registry::remove);
            directoryLock.release();
        }
    }

    @Override
    public String toString() {
        return "EmbeddedTransactionStore[" + directory + "]";
    }
}
