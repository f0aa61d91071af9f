package io.cohort.tc.store.postgres;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.StoreUnavailableException;
import io.cohort.tc.support.AfterCompletions;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit for the PostgreSQL store: per kind of write (new transactions, registrations, status
 * changes, branch results, heuristic marks, lock releases) a few writer threads,
 * each of which takes every write of that kind queued for it while its previous batch was
 * committing, writes them all in one database transaction and then completes each caller's future.
 * A transaction's writes of one kind always go to the same writer (by XID). A batch of one kind is one round
 * trip: a JDBC batch sent in autocommit is one implicit transaction that commits at its Sync; the
 * registrations of a batch are one {@code unnest} statement and a commit. So the round trips and WAL
 * flushes per global transaction shrink as the load grows, and no kind waits behind another.
 *
 * <p><b>Order.</b> The calls of one batch were all pending at the same time, so any order among
 * them is a valid one: a batch runs in XID order (writes of one XID keep their queue order), the
 * order every writer and the lease renewal lock global rows in, so they never deadlock. Batches of
 * different writers hold different transactions' writes and need no order among them. The kinds
 * need no order among them: a caller waits for a write before it makes the next one of the same transaction (a
 * registration after the begin, a release after the decision), as {@code TransactionStore} asks.
 *
 * <p><b>Failures are per call.</b> A registration that meets a lock held by another transaction
 * gets its {@code Conflict} and leaves nothing behind, while the others of the batch commit (see
 * {@link Registrations}); a branch id stored already makes its registration batch run again with
 * the statement that skips such ids (see {@link Sql#register}), so only that registration is
 * refused; an existing XID fails only its own {@code insertGlobal}. A batch that
 * fails as a whole on a deadlock or serialization failure is run again; one that fails otherwise is
 * split and each call run alone, so only the call at fault fails.
 *
 * <p><b>Completion.</b> Callers' futures complete on a pool of their own, never on a writer: a
 * caller's next step (answer an RPC, start phase 2 and read the store for it) then never holds up
 * the next batch of the writer whose write it waited for. A batch's futures all complete on one
 * thread of that pool, in one {@link AfterCompletions#run}, as the embedded store's do: the answers
 * and phase-2 commands of one database commit go out together, one stream message per stream, and
 * the batch wakes one thread, not one per call.
 */
final class GroupCommit implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(GroupCommit.class);
    private static final int QUEUE_CAPACITY = 10_000;
    /** Most writes in one database transaction: bounds the statement sizes and the lock time. */
    static final int MAX_BATCH = 500;
    private static final int MAX_ATTEMPTS = 4;
    /**
     * Most writes of one kind sent in autocommit as one implicit transaction: the driver sends a
     * larger JDBC batch in parts (to keep its receive buffer small), each committing on its own.
     */
    static final int MAX_IMPLICIT = 64;

    private final DataSource dataSource;
    private final JdbcRunner jdbc;
    private final Owner owner;
    private final Listener listener;
    private final Map<String, Lane> lanes = new HashMap<>();
    /** Completes callers' futures, so their continuations never run on (and hold up) a writer. */
    private final ThreadPoolExecutor completer;
    private volatile boolean closed;

    /**
     * One kind of write with its writers. Kinds do not wait for each other: a batch is one statement
     * kind, so it takes one round trip in autocommit (its JDBC batch is one implicit transaction) or,
     * for registrations, a statement and a commit. The coordinator waits for a write before it makes
     * the next one of the same transaction, so kinds need no order among them.
     *
     * <p>A kind has several writers, each with its own queue and one batch in flight, so callers
     * do not all queue behind one commit. A write goes to the writer its XID hashes to: the writes
     * of one transaction keep their queue order (two results of one branch land in the order they
     * were made, in the database and in {@link OwnedTransactions}), and batches running side by side
     * lock global rows in XID order each, so they queue rather than deadlock.
     */
    private final class Lane {
        final String name;
        final int maxBatch;
        final Writer[] writers;

        Lane(String name, int maxBatch, int writerCount) {
            this.name = name;
            this.maxBatch = maxBatch;
            this.writers = new Writer[writerCount];
            for (int i = 0; i < writerCount; i++) {
                writers[i] = new Writer(this, writerCount == 1 ? name : name + "-" + i);
            }
        }

        Writer writerOf(String xid) {
            return writers[Math.floorMod(xid.hashCode(), writers.length)];
        }
    }

    /** One writer of a kind: its queue and the thread that writes it, one batch at a time. */
    private final class Writer {
        final Lane lane;
        final String name;
        final BlockingQueue<Write<?>> queue = new LinkedBlockingQueue<>(QUEUE_CAPACITY);
        final Thread thread;

        Writer(Lane lane, String name) {
            this.lane = lane;
            this.name = name;
            this.thread = new Thread(() -> loop(this), "cohort-pg-store-" + name);
            thread.setDaemon(true);
        }
    }

    /**
     * @param owner             the owner written with a new or moved transaction (see {@link Leases})
     * @param completionThreads threads that run callers' continuations (which may read the store)
     * @param writersPerKind    batches of one kind in flight at once (each holds a connection while it runs)
     */
    GroupCommit(DataSource dataSource, JdbcRunner jdbc, Owner owner, int completionThreads, int writersPerKind,
            Listener listener) {
        this.dataSource = dataSource;
        this.jdbc = jdbc;
        this.owner = owner;
        this.listener = listener;
        AtomicInteger n = new AtomicInteger();
        this.completer = new ThreadPoolExecutor(completionThreads, completionThreads, 0, TimeUnit.MILLISECONDS,
                new LinkedBlockingQueue<>(), r -> {
                    Thread t = new Thread(r, "cohort-pg-store-done-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        for (String op : List.of("insertGlobal", "transitionGlobal", "markHeuristic", "updateBranch", "releaseLocks")) {
            lanes.put(op, new Lane(op, MAX_IMPLICIT, writersPerKind));
        }
        lanes.put("registerBranch", new Lane("registerBranch", MAX_BATCH, writersPerKind));
        lanes.values().forEach(l -> List.of(l.writers).forEach(w -> w.thread.start()));
    }

    // ---- the writes

    /** One queued write: what it is, for whom (for messages), and its caller's future. */
    abstract static sealed class Write<T> permits Register, Transition, Simple, Release {
        final CompletableFuture<T> future = new CompletableFuture<>();
        T result;
        RuntimeException failure;
        /** Made by a replica that does not hold the transaction in memory (see {@link OwnedTransactions}). */
        boolean foreign = true;

        abstract String op();

        abstract String xid();

        long branchId() {
            return JdbcRunner.NO_BRANCH;
        }

        void reset() {
            result = null;
            failure = null;
        }
    }

    /** Told of every write once its batch is over (committed or failed), before its caller is. */
    @FunctionalInterface
    interface Listener {
        void written(Write<?> write);
    }

    /** The replica a write that takes the lease names as owner, and for how long (see {@link Leases}). */
    record Owner(String replicaId, long leaseMs) {
    }

    /**
     * A write that is one execution of one prepared statement: a batch of them is one JDBC batch,
     * and each learns its outcome from its own update count.
     */
    abstract static sealed class Simple<T> extends Write<T> permits InsertGlobal, Heuristic, UpdateBranch {
        final String xid;

        Simple(String xid) {
            this.xid = xid;
        }

        @Override
        final String xid() {
            return xid;
        }

        abstract String sql();

        abstract void bind(PreparedStatement ps, Owner owner) throws SQLException;

        /** Sets the result (or failure) from the statement's update count. */
        abstract void counted(int count);
    }

    /** A new transaction; with {@code ifAbsent}, an existing XID answers false instead of failing (createGlobal). */
    static final class InsertGlobal extends Simple<Boolean> {
        final GlobalTransaction tx;
        final boolean ifAbsent;

        InsertGlobal(GlobalTransaction tx, boolean ifAbsent) {
            super(tx.xid());
            this.tx = tx;
            this.ifAbsent = ifAbsent;
        }

        @Override
        String op() {
            return "insertGlobal";
        }

        @Override
        String sql() {
            return Sql.INSERT_GLOBAL_ASYNC; // a batch of nothing but new transactions (see Sql.INSERT_GLOBAL_ASYNC)
        }

        @Override
        void bind(PreparedStatement ps, Owner owner) throws SQLException {
            ps.setString(1, tx.xid());
            ps.setString(2, tx.name());
            ps.setString(3, tx.applicationId());
            ps.setShort(4, (short) tx.protocol().getNumber());
            ps.setShort(5, (short) tx.status().code());
            ps.setObject(6, Rows.timestamp(tx.beginTimeMs()));
            ps.setLong(7, tx.timeoutMs());
            ps.setString(8, tx.heuristicEvidence());
            ps.setString(9, tx.reason());
            ps.setObject(10, Rows.timestamp(tx.updatedAtMs()));
            ps.setString(11, owner.replicaId()); // the replica that begins a transaction owns it
            ps.setLong(12, owner.leaseMs());
        }

        @Override
        void counted(int count) {
            result = count > 0;
            if (count == 0 && !ifAbsent) { // ON CONFLICT DO NOTHING: the XID exists
                failure = new IllegalStateException(where(this) + " failed: a global transaction with this XID exists already");
            }
        }
    }

    static final class Register extends Write<RegisterResult> {
        final Branch branch;
        final Collection<RowKey> rows;
        /** The transaction to create first unless its XID exists (a TM-made XID's first registration), or null. */
        final GlobalTransaction create;
        /** This write created {@link #create}. */
        boolean created;

        Register(Branch branch, Collection<RowKey> rows) {
            this(branch, rows, null);
        }

        Register(Branch branch, Collection<RowKey> rows, GlobalTransaction create) {
            this.branch = branch;
            this.rows = rows;
            this.create = create;
        }

        @Override
        void reset() {
            super.reset();
            created = false;
        }

        @Override
        String op() {
            return "registerBranch";
        }

        @Override
        String xid() {
            return branch.xid();
        }

        @Override
        long branchId() {
            return branch.branchId();
        }
    }

    /** A status move: a batch of them is one statement (see {@link Sql#TRANSITION_GLOBALS}). */
    static final class Transition extends Write<Boolean> {
        final String xid;
        final GlobalStatus from;
        final GlobalStatus to;
        final String reason;
        final long atMs;
        final ChangeCause cause;
        /** {@code changes} of the moved row, -1 if not moved. */
        long changesAfter = -1;
        /** Rows whose locks the move deletes if it is made (a 2PC commit decision); null: none. */
        Collection<RowKey> releases;

        Transition(String xid, GlobalStatus from, GlobalStatus to, String reason, long atMs, ChangeCause cause) {
            this.xid = xid;
            this.from = from;
            this.to = to;
            this.reason = reason == null ? "" : reason;
            this.atMs = atMs;
            this.cause = cause;
        }

        @Override
        String op() {
            return "transitionGlobal";
        }

        @Override
        String xid() {
            return xid;
        }

        @Override
        void reset() {
            super.reset();
            changesAfter = -1;
        }
    }

    static final class Heuristic extends Simple<Boolean> {
        final String evidence;
        final long atMs;

        Heuristic(String xid, String evidence, long atMs) {
            super(xid);
            this.evidence = evidence == null ? "" : evidence;
            this.atMs = atMs;
        }

        @Override
        String op() {
            return "markHeuristic";
        }

        @Override
        String sql() {
            return Sql.MARK_HEURISTIC;
        }

        @Override
        void bind(PreparedStatement ps, Owner owner) throws SQLException {
            ps.setString(1, evidence);
            ps.setObject(2, Rows.timestamp(atMs));
            ps.setInt(3, foreign ? 1 : 0);
            ps.setString(4, xid);
        }

        @Override
        void counted(int count) {
            result = count == 1;
        }
    }

    static final class UpdateBranch extends Simple<Boolean> {
        final long branchId;
        final BranchStatus status;
        final String reason;
        final long atMs;
        final ChangeCause cause;

        UpdateBranch(String xid, long branchId, BranchStatus status, String reason, long atMs, ChangeCause cause) {
            super(xid);
            this.branchId = branchId;
            this.status = status;
            this.reason = reason == null ? "" : reason;
            this.atMs = atMs;
            this.cause = cause;
        }

        @Override
        String op() {
            return "updateBranch";
        }

        @Override
        long branchId() {
            return branchId;
        }

        @Override
        String sql() {
            return Sql.UPDATE_BRANCH;
        }

        @Override
        void bind(PreparedStatement ps, Owner owner) throws SQLException {
            ps.setShort(1, (short) status.code());
            ps.setString(2, reason);
            ps.setLong(3, branchId);
            ps.setString(4, xid);
            ps.setInt(5, foreign ? 1 : 0);
            ps.setLong(6, atMs); // the history entry (Sql.UPDATE_BRANCH)
            ps.setInt(7, cause.code());
        }

        @Override
        void counted(int count) {
            result = count == 1;
        }
    }

    /** releaseLocks: a batch of them is one statement over their rows (see {@link #release}). */
    static final class Release extends Write<Void> {
        final String xid;
        /**
         * releaseLocks made once this replica's memory had the transaction decided, so no lock can be
         * taken after it (see {@link OwnedTransactions#locksReleased}).
         */
        boolean afterDecision;
        /** Every row the transaction can hold, from this replica's memory; null: read its branches. */
        final Collection<RowKey> rows;

        /** @param rows every row {@code xid} can hold, or null when this replica does not know them */
        Release(String xid, Collection<RowKey> rows) {
            this.xid = xid;
            this.rows = rows;
        }

        @Override
        String op() {
            return "releaseLocks";
        }

        @Override
        String xid() {
            return xid;
        }
    }

    /** Queues {@code write}; its future completes once the batch it joined is committed. */
    <T> CompletableFuture<T> submit(Write<T> write) {
        if (closed) {
            write.failure = new StoreUnavailableException(where(write) + " not run: the store is closed");
            complete(write);
        } else if (!lanes.get(write.op()).writerOf(write.xid()).queue.offer(write)) {
            write.failure = new StoreUnavailableException(where(write) + " rejected: the store's queue is full ("
                    + QUEUE_CAPACITY + " pending writes); the database is slower than the load");
            complete(write);
        }
        return write.future;
    }

    // ---- the writer

    private void loop(Writer writer) {
        List<Write<?>> batch = new ArrayList<>();
        while (true) {
            try {
                Write<?> first = writer.queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    if (closed) {
                        return;
                    }
                    continue;
                }
                batch.add(first);
                writer.queue.drainTo(batch, writer.lane.maxBatch - 1);
                write(batch);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException | Error e) {
                log.error("The TC store writer of {} failed on a batch of {} writes; they fail as unavailable",
                        writer.name, batch.size(), e);
                for (Write<?> w : batch) {
                    w.failure = new StoreUnavailableException(where(w) + " failed: " + e);
                }
                complete(batch);
            } finally {
                batch.clear();
            }
        }
    }

    /** Writes {@code batch} in one transaction, again on transient failures, split on others. */
    private void write(List<Write<?>> batch) {
        for (int attempt = 1; ; attempt++) {
            try {
                runAndCommit(batch);
                break;
            } catch (SQLException e) {
                if (JdbcRunner.isTransient(e) && attempt < MAX_ATTEMPTS) {
                    log.debug("A batch of {} TC store writes hit SQLState {} ({}), attempt {} of {}", batch.size(),
                            e.getSQLState(), e.getMessage(), attempt, MAX_ATTEMPTS);
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(
                            ThreadLocalRandom.current().nextLong(1, 5L * attempt)));
                    continue;
                }
                if (batch.size() > 1 && JdbcRunner.isFaultOfOneWrite(e)) {
                    // One write at fault (bad data): run each alone so that only it fails.
                    log.debug("A batch of {} TC store writes failed ({}); writing them one by one", batch.size(),
                            e.getMessage());
                    for (Write<?> w : batch) {
                        write(List.of(w));
                    }
                    return;
                }
                for (Write<?> w : batch) {
                    w.failure = JdbcRunner.translate(where(w), e, attempt);
                }
                break;
            }
        }
        complete(batch);
    }

    private void complete(Write<?> w) {
        complete(List.of(w));
    }

    /**
     * Completes the callers' futures of {@code writes} on one thread of the completer pool, never on
     * the writer (what a caller does next, answer an RPC, drive phase 2, read the store, must not hold
     * up the next batch), inside one {@link AfterCompletions#run}: what the completions send goes out
     * once, after the last of them.
     */
    private void complete(List<Write<?>> writes) {
        for (Write<?> w : writes) {
            try {
                listener.written(w);
            } catch (RuntimeException e) {
                log.error("After {}: updating this replica's memory of the transaction failed", where(w), e);
            }
        }
        List<Write<?>> done = List.copyOf(writes); // the writer reuses its batch list
        Runnable completions = () -> AfterCompletions.run(() -> done.forEach(GroupCommit::completeNow));
        try {
            completer.execute(completions);
        } catch (RejectedExecutionException e) { // closed: answer on this thread rather than never
            completions.run();
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void completeNow(Write w) {
        if (w.failure != null) {
            w.future.completeExceptionally(w.failure);
        } else {
            w.future.complete(w.result);
        }
    }

    /**
     * One lane's batch, all of one kind. Rows are locked in one order by every writer: global rows
     * by XID (the sort is stable, so two writes of one XID keep their queue order), as the lease
     * renewal and registration lock them, so no two writers wait for each other in a cycle.
     */
    private void runAndCommit(List<Write<?>> batch) throws SQLException {
        for (Write<?> w : batch) {
            w.reset();
        }
        try (Connection c = dataSource.getConnection()) {
            if (batch.get(0) instanceof Register) {
                List<Register> registers = new ArrayList<>();
                batch.forEach(w -> registers.add((Register) w));
                try {
                    register(c, registers, false);
                } catch (SQLException e) {
                    if (!JdbcRunner.UNIQUE_VIOLATION.equals(e.getSQLState())) {
                        throw e;
                    }
                    // A branch id stored already (an RM sent one twice) failed the plain insert and
                    // the batch with it: once more, with the insert that skips such ids.
                    log.debug("A batch of {} registrations met a branch id stored already; running it again",
                            registers.size());
                    registers.forEach(Write::reset);
                    register(c, registers, true);
                }
                return;
            }
            if (batch.get(0) instanceof Transition) {
                List<Transition> moves = new ArrayList<>();
                batch.forEach(w -> moves.add((Transition) w));
                long start = System.nanoTime();
                move(c, moves);
                jdbc.recordDurableWrite(start, batch.size());
                return;
            }
            if (batch.get(0) instanceof Release) {
                long start = System.nanoTime();
                release(c, batch);
                jdbc.recordDurableWrite(start, batch.size());
                return;
            }
            List<Simple<?>> simple = new ArrayList<>();
            batch.forEach(w -> simple.add((Simple<?>) w));
            simple.sort(Comparator.comparing(Simple::xid));
            // One JDBC batch in autocommit: its statements up to the Sync are one implicit
            // transaction, committed with that one round trip.
            long start = System.nanoTime();
            try (PreparedStatement ps = c.prepareStatement(simple.get(0).sql())) {
                for (Simple<?> w : simple) {
                    w.bind(ps, owner);
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                for (int k = 0; k < counts.length; k++) {
                    simple.get(k).counted(counts[k]);
                }
            }
            if (!(simple.get(0) instanceof InsertGlobal)) { // an insert is not a durable write: not timed as one
                jdbc.recordDurableWrite(start, batch.size());
            }
        }
    }

    private void register(Connection c, List<Register> registers, boolean idsMayBeStored) throws SQLException {
        JdbcRunner.inTransaction(c, tx -> {
            Registrations.run(tx, registers, owner, idsMayBeStored);
            jdbc.commit(tx, registers.size());
            return null;
        });
    }

    /**
     * The lock releases of a batch: one statement, in autocommit, that deletes each transaction's
     * rows by primary key (no index on the holder's XID to keep up at every lock taken). The rows are
     * those this replica's memory has (its decided transactions) or, for the others, those their
     * branch rows' lock keys name, read first: every lock row goes in with its branch row and the
     * branch rows stay until the retention purge. A branch whose stored lock keys cannot be parsed
     * has its transaction's locks found by a scan instead.
     */
    private void release(Connection c, List<Write<?>> batch) throws SQLException {
        LockRows rows = new LockRows();
        Set<String> unknown = new TreeSet<>();
        for (Write<?> w : batch) {
            Release release = (Release) w;
            if (release.rows == null) {
                unknown.add(release.xid);
                continue;
            }
            rows.add(release.xid, release.rows);
        }
        Set<String> scan = new TreeSet<>();
        if (!unknown.isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement(Sql.FIND_LOCK_KEYS)) {
                ps.setArray(1, c.createArrayOf("text", unknown.toArray()));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String xid = rs.getString(1);
                        List<RowKey> stored;
                        try {
                            stored = RowKey.expand(rs.getString(2), List.of((String[]) rs.getArray(3).getArray()));
                        } catch (IllegalArgumentException e) {
                            log.warn("Releasing the locks of xid={}: a branch's stored lock keys do not parse ({});"
                                    + " finding its locks by a scan of cohort_row_lock", xid, e.getMessage());
                            scan.add(xid);
                            continue;
                        }
                        rows.add(xid, stored);
                    }
                }
            }
        }
        if (!rows.isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement(Sql.RELEASE_LOCKS)) {
                rows.bind(c, ps, 1);
                ps.executeUpdate();
            }
        }
        if (!scan.isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement(Sql.RELEASE_LOCKS_BY_SCAN)) {
                ps.setArray(1, c.createArrayOf("text", scan.toArray()));
                ps.executeUpdate();
            }
        }
    }

    /**
     * The moves of a batch in XID order, in autocommit: one statement (one implicit transaction) per
     * round, a round taking each XID's next move in queue order, so a second move of one XID sees the
     * first (one statement updates a row once). Each move learns from the rows returned whether it
     * moved and the row's {@code changes}.
     */
    private void move(Connection c, List<Transition> moves) throws SQLException {
        List<Transition> left = new ArrayList<>(moves);
        left.sort(Comparator.comparing(Transition::xid)); // stable: one XID's moves keep their queue order
        try (PreparedStatement ps = c.prepareStatement(Sql.TRANSITION_GLOBALS)) {
            while (!left.isEmpty()) {
                List<Transition> round = new ArrayList<>();
                List<Transition> later = new ArrayList<>();
                for (Transition t : left) {
                    (round.isEmpty() || !round.get(round.size() - 1).xid.equals(t.xid) ? round : later).add(t);
                }
                moveRound(c, ps, round);
                left = later;
            }
        }
    }

    private void moveRound(Connection c, PreparedStatement ps, List<Transition> round) throws SQLException {
        int n = round.size();
        String[] xids = new String[n];
        Short[] from = new Short[n];
        Short[] to = new Short[n];
        String[] reasons = new String[n];
        Long[] at = new Long[n];
        Integer[] foreign = new Integer[n];
        Integer[] causes = new Integer[n];
        LockRows releases = new LockRows();
        for (int i = 0; i < n; i++) {
            Transition t = round.get(i);
            xids[i] = t.xid;
            from[i] = (short) t.from.code();
            to[i] = (short) t.to.code();
            reasons[i] = t.reason;
            at[i] = t.atMs;
            foreign[i] = t.foreign ? 1 : 0;
            causes[i] = t.cause.code();
            if (t.releases != null) {
                releases.add(t.xid, t.releases);
            }
        }
        int p = 1;
        ps.setArray(p++, c.createArrayOf("text", xids));
        ps.setArray(p++, c.createArrayOf("smallint", from));
        ps.setArray(p++, c.createArrayOf("smallint", to));
        ps.setArray(p++, c.createArrayOf("text", reasons));
        ps.setArray(p++, c.createArrayOf("bigint", at));
        ps.setArray(p++, c.createArrayOf("int4", foreign));
        ps.setArray(p++, c.createArrayOf("int4", causes));
        p = releases.bind(c, ps, p);
        ps.setString(p++, owner.replicaId());
        ps.setLong(p, owner.leaseMs());
        Map<String, Transition> byXid = new HashMap<>();
        for (Transition t : round) {
            byXid.put(t.xid, t);
            t.result = false;
        }
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                Transition t = byXid.get(rs.getString(1));
                t.result = true;
                t.changesAfter = rs.getLong(2);
            }
        }
    }

    /** Row locks to delete by primary key, as the four arrays (resource, table, pk, holder XID) the statements take. */
    private static final class LockRows {
        final List<String> resources = new ArrayList<>();
        final List<String> tables = new ArrayList<>();
        final List<String> pks = new ArrayList<>();
        final List<String> holders = new ArrayList<>();

        void add(String xid, Collection<RowKey> rows) {
            for (RowKey row : rows) {
                resources.add(row.resourceId());
                tables.add(row.table());
                pks.add(row.pk());
                holders.add(xid);
            }
        }

        boolean isEmpty() {
            return holders.isEmpty();
        }

        /** Binds the four arrays from parameter {@code p} on; returns the next parameter's index. */
        int bind(Connection c, PreparedStatement ps, int p) throws SQLException {
            for (List<String> column : List.of(resources, tables, pks, holders)) {
                ps.setArray(p++, c.createArrayOf("text", column.toArray()));
            }
            return p;
        }
    }

    static String where(Write<?> w) {
        return JdbcRunner.where(w.op(), w.xid(), w.branchId());
    }

    /** Stops after the batches in progress; writes still queued fail as unavailable. */
    @Override
    public void close() {
        closed = true;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (Lane lane : lanes.values()) {
            for (Writer writer : lane.writers) {
                try {
                    writer.thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                if (writer.thread.isAlive()) {
                    log.warn("The TC store writer {} is still busy 10 s after close; interrupting it", writer.name);
                    writer.thread.interrupt();
                }
                List<Write<?>> left = new ArrayList<>();
                writer.queue.drainTo(left);
                for (Write<?> w : left) {
                    w.failure = new StoreUnavailableException(where(w) + " not run: the store was closed");
                }
                if (!left.isEmpty()) {
                    complete(left);
                }
            }
        }
        completer.shutdown(); // completions already handed over still run
    }
}
