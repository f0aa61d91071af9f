package io.cohort.tc.store.postgres;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.StoreUnavailableException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit for the PostgreSQL store: per kind of write (new transactions, registrations, status
 * changes, branch results, heuristic marks, lock releases, branch deletion) one writer thread takes
 * every write of that kind queued while its previous batch was committing, writes them all in one
 * database transaction and then completes each caller's future. A batch of one kind is one round
 * trip: a JDBC batch sent in autocommit is one implicit transaction that commits at its Sync; the
 * registrations of a batch are one {@code unnest} statement and a commit. So the round trips and WAL
 * flushes per global transaction shrink as the load grows, and no kind waits behind another.
 *
 * <p><b>Order.</b> The calls of one batch were all pending at the same time, so any order among
 * them is a valid one; writes of one kind keep their queue order. The kinds need no order among
 * them: a caller waits for a write before it makes the next one of the same transaction (a
 * registration after the begin, a release after the decision), as {@code TransactionStore} asks.
 *
 * <p><b>Failures are per call.</b> A registration that meets a lock held by another transaction
 * gets its {@code Conflict} and leaves nothing behind, while the others of the batch commit (see
 * {@link Registrations}); an existing XID fails only its own {@code insertGlobal}. A batch that
 * fails as a whole on a deadlock or serialization failure is run again; one that fails otherwise is
 * split and each call run alone, so only the call at fault fails.
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
    private final String replicaId;
    private final long leaseMs;
    private final Map<String, Lane> lanes = new HashMap<>();
    private volatile boolean closed;

    /**
     * One kind of write with its own queue and writer thread. Kinds do not wait for each other: a
     * batch is one statement kind, so it takes one round trip in autocommit (its JDBC batch is one
     * implicit transaction) or, for registrations, a statement and a commit. The coordinator waits
     * for a write before it makes the next one of the same transaction, so kinds need no order
     * among them; writes of one kind keep their queue order.
     */
    private final class Lane {
        final String name;
        final int maxBatch;
        final BlockingQueue<Write<?>> queue = new LinkedBlockingQueue<>(QUEUE_CAPACITY);
        final Thread writer;

        Lane(String name, int maxBatch) {
            this.name = name;
            this.maxBatch = maxBatch;
            this.writer = new Thread(() -> loop(this), "cohort-pg-store-" + name);
            writer.setDaemon(true);
        }
    }

    /** @param replicaId the owner written with a new or moved transaction, for {@code leaseMs} (see {@link Leases}) */
    GroupCommit(DataSource dataSource, JdbcRunner jdbc, String replicaId, long leaseMs) {
        this.dataSource = dataSource;
        this.jdbc = jdbc;
        this.replicaId = replicaId;
        this.leaseMs = leaseMs;
        for (String op : List.of("insertGlobal", "transitionGlobal", "markHeuristic", "updateBranch", "releaseLocks",
                "deleteBranches")) {
            lanes.put(op, new Lane(op, MAX_IMPLICIT));
        }
        lanes.put("registerBranch", new Lane("registerBranch", MAX_BATCH));
        lanes.values().forEach(l -> l.writer.start());
    }

    // ---- the writes

    /** One queued write: what it is, for whom (for messages), and its caller's future. */
    abstract static sealed class Write<T> permits InsertGlobal, Register, Transition, Heuristic, UpdateBranch,
            ByXid {
        final CompletableFuture<T> future = new CompletableFuture<>();
        T result;
        RuntimeException failure;

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

    static final class InsertGlobal extends Write<Void> {
        final GlobalTransaction tx;

        InsertGlobal(GlobalTransaction tx) {
            this.tx = tx;
        }

        @Override
        String op() {
            return "insertGlobal";
        }

        @Override
        String xid() {
            return tx.xid();
        }
    }

    static final class Register extends Write<RegisterResult> {
        final Branch branch;
        final Collection<RowKey> rows;

        Register(Branch branch, Collection<RowKey> rows) {
            this.branch = branch;
            this.rows = rows;
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

    static final class Transition extends Write<Boolean> {
        final String xid;
        final GlobalStatus from;
        final GlobalStatus to;
        final String reason;
        final long atMs;
        final ChangeCause cause;

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
    }

    static final class Heuristic extends Write<Void> {
        final String xid;
        final String evidence;
        final long atMs;

        Heuristic(String xid, String evidence, long atMs) {
            this.xid = xid;
            this.evidence = evidence == null ? "" : evidence;
            this.atMs = atMs;
        }

        @Override
        String op() {
            return "markHeuristic";
        }

        @Override
        String xid() {
            return xid;
        }
    }

    static final class UpdateBranch extends Write<Boolean> {
        final String xid;
        final long branchId;
        final BranchStatus status;
        final String reason;
        final long atMs;
        final ChangeCause cause;

        UpdateBranch(String xid, long branchId, BranchStatus status, String reason, long atMs, ChangeCause cause) {
            this.xid = xid;
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
        String xid() {
            return xid;
        }

        @Override
        long branchId() {
            return branchId;
        }
    }

    /** releaseLocks or deleteBranches: one statement with the XID as its only parameter. */
    static final class ByXid extends Write<Void> {
        final String op;
        final String xid;

        ByXid(String op, String xid) {
            this.op = op;
            this.xid = xid;
        }

        @Override
        String op() {
            return op;
        }

        @Override
        String xid() {
            return xid;
        }
    }

    /** Queues {@code write}; its future completes once the batch it joined is committed. */
    <T> CompletableFuture<T> submit(Write<T> write) {
        if (closed) {
            write.future.completeExceptionally(new StoreUnavailableException(where(write) + " not run: the store is closed"));
        } else if (!lanes.get(write.op()).queue.offer(write)) {
            write.future.completeExceptionally(new StoreUnavailableException(where(write)
                    + " rejected: the store's queue is full (" + QUEUE_CAPACITY + " pending writes); the database"
                    + " is slower than the load"));
        }
        return write.future;
    }

    // ---- the writer

    private void loop(Lane lane) {
        List<Write<?>> batch = new ArrayList<>();
        while (true) {
            try {
                Write<?> first = lane.queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    if (closed) {
                        return;
                    }
                    continue;
                }
                batch.add(first);
                lane.queue.drainTo(batch, lane.maxBatch - 1);
                write(batch);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException | Error e) {
                log.error("The TC store writer of {} failed on a batch of {} writes; they fail as unavailable",
                        lane.name, batch.size(), e);
                for (Write<?> w : batch) {
                    w.future.completeExceptionally(new StoreUnavailableException(where(w) + " failed: " + e));
                }
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
        for (Write<?> w : batch) {
            complete(w);
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void complete(Write w) {
        if (w.failure != null) {
            w.future.completeExceptionally(w.failure);
        } else {
            w.future.complete(w.result);
        }
    }

    private void runAndCommit(List<Write<?>> batch) throws SQLException {
        List<InsertGlobal> inserts = new ArrayList<>();
        List<Register> registers = new ArrayList<>();
        List<Transition> transitions = new ArrayList<>();
        List<Heuristic> heuristics = new ArrayList<>();
        List<UpdateBranch> branchUpdates = new ArrayList<>();
        List<ByXid> releases = new ArrayList<>();
        List<ByXid> deletes = new ArrayList<>();
        for (Write<?> w : batch) {
            w.reset();
            if (w instanceof InsertGlobal i) {
                inserts.add(i);
            } else if (w instanceof Register r) {
                registers.add(r);
            } else if (w instanceof Transition t) {
                transitions.add(t);
            } else if (w instanceof Heuristic h) {
                heuristics.add(h);
            } else if (w instanceof UpdateBranch u) {
                branchUpdates.add(u);
            } else if (w instanceof ByXid x) {
                (x.op.equals("releaseLocks") ? releases : deletes).add(x);
            }
        }
        // Rows locked in one order by every batch (stable: two writes of one XID keep their queue order),
        // so batches of two replicas, or a batch and a lease renewal, deadlock less.
        transitions.sort(Comparator.comparing(t -> t.xid));
        heuristics.sort(Comparator.comparing(h -> h.xid));
        branchUpdates.sort(Comparator.comparingLong(u -> u.branchId));
        boolean onlyInserts = inserts.size() == batch.size();
        int kinds = (inserts.isEmpty() ? 0 : 1) + (transitions.isEmpty() ? 0 : 1) + (heuristics.isEmpty() ? 0 : 1)
                + (branchUpdates.isEmpty() ? 0 : 1) + (releases.isEmpty() ? 0 : 1) + (deletes.isEmpty() ? 0 : 1);
        try (Connection c = dataSource.getConnection()) {
            if (registers.isEmpty() && kinds == 1 && batch.size() <= MAX_IMPLICIT) {
                // One JDBC batch in autocommit: its statements up to the Sync are one implicit
                // transaction, committed with that one round trip.
                long start = System.nanoTime();
                insertGlobals(c, inserts, onlyInserts);
                transitions(c, transitions);
                heuristics(c, heuristics);
                branchUpdates(c, branchUpdates);
                byXid(c, Sql.RELEASE_LOCKS, releases);
                byXid(c, Sql.DELETE_BRANCHES, deletes);
                if (!onlyInserts) { // an insert alone is not a durable write: not timed as one
                    jdbc.recordDurableWrite(start, batch.size());
                }
                return;
            }
            JdbcRunner.inTransaction(c, tx -> {
                // Only new transactions: commit without waiting for the WAL flush (see Sql.INSERT_GLOBAL_ASYNC).
                insertGlobals(tx, inserts, onlyInserts);
                Registrations.run(tx, registers);
                transitions(tx, transitions);
                heuristics(tx, heuristics);
                branchUpdates(tx, branchUpdates);
                byXid(tx, Sql.RELEASE_LOCKS, releases);
                byXid(tx, Sql.DELETE_BRANCHES, deletes);
                if (onlyInserts) {
                    tx.commit(); // not a durable write: not timed as one
                } else {
                    jdbc.commit(tx, batch.size());
                }
                return null;
            });
        }
    }

    private void insertGlobals(Connection c, List<InsertGlobal> inserts, boolean async) throws SQLException {
        if (inserts.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(async ? Sql.INSERT_GLOBAL_ASYNC : Sql.INSERT_GLOBAL)) {
            for (InsertGlobal i : inserts) {
                GlobalTransaction tx = i.tx;
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
                ps.setString(11, replicaId); // the replica that begins a transaction owns it
                ps.setLong(12, leaseMs);
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            for (int k = 0; k < counts.length; k++) {
                if (counts[k] == 0) { // ON CONFLICT DO NOTHING: the XID exists
                    inserts.get(k).failure = new IllegalStateException(where(inserts.get(k))
                            + " failed: a global transaction with this XID exists already");
                }
            }
        }
    }

    private void transitions(Connection c, List<Transition> transitions) throws SQLException {
        if (transitions.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(Sql.TRANSITION_GLOBAL)) {
            for (Transition t : transitions) {
                ps.setShort(1, (short) t.to.code());
                ps.setString(2, t.reason);
                ps.setObject(3, Rows.timestamp(t.atMs));
                ps.setString(4, replicaId);
                ps.setLong(5, leaseMs);
                ps.setString(6, t.xid);
                ps.setShort(7, (short) t.from.code());
                ps.setShort(8, (short) t.cause.code()); // the history row (Sql.TRANSITION_GLOBAL)
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            for (int k = 0; k < counts.length; k++) {
                transitions.get(k).result = counts[k] == 1;
            }
        }
    }

    private static void heuristics(Connection c, List<Heuristic> heuristics) throws SQLException {
        if (heuristics.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(Sql.MARK_HEURISTIC)) {
            for (Heuristic h : heuristics) {
                ps.setString(1, h.evidence);
                ps.setObject(2, Rows.timestamp(h.atMs));
                ps.setString(3, h.xid);
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    private static void branchUpdates(Connection c, List<UpdateBranch> updates) throws SQLException {
        if (updates.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(Sql.UPDATE_BRANCH)) {
            for (UpdateBranch u : updates) {
                ps.setShort(1, (short) u.status.code());
                ps.setString(2, u.reason);
                ps.setLong(3, u.branchId);
                ps.setString(4, u.xid);
                ps.setShort(5, (short) u.cause.code()); // the history row (Sql.UPDATE_BRANCH)
                ps.setObject(6, Rows.timestamp(u.atMs));
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            for (int k = 0; k < counts.length; k++) {
                updates.get(k).result = counts[k] == 1;
            }
        }
    }

    private static void byXid(Connection c, String sql, List<ByXid> writes) throws SQLException {
        if (writes.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (ByXid w : writes) {
                ps.setString(1, w.xid);
                ps.addBatch();
            }
            ps.executeBatch();
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
            try {
                lane.writer.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (lane.writer.isAlive()) {
                log.warn("The TC store writer of {} is still busy 10 s after close; interrupting it", lane.name);
                lane.writer.interrupt();
            }
            List<Write<?>> left = new ArrayList<>();
            lane.queue.drainTo(left);
            for (Write<?> w : left) {
                w.future.completeExceptionally(new StoreUnavailableException(where(w) + " not run: the store was closed"));
            }
        }
    }
}
