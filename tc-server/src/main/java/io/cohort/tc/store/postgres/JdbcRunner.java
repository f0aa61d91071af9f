package io.cohort.tc.store.postgres;

import io.cohort.tc.store.StoreUnavailableException;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs JDBC work for the PostgreSQL store: on a bounded worker pool for the writes that do not go
 * through {@link GroupCommit} (leases, the purge; one thread per connection, so a queued call never
 * holds a connection while it waits), on the caller's thread for reads, with a few retries of
 * deadlocks and serialization failures, and every {@link SQLException} turned into a
 * {@link StoreUnavailableException} that names the operation, the XID and the SQLState.
 */
final class JdbcRunner implements AutoCloseable {

    /** Work done on one pooled connection. */
    @FunctionalInterface
    interface Work<T> {
        T run(Connection connection) throws SQLException;
    }

    private static final Logger log = LoggerFactory.getLogger(JdbcRunner.class);
    private static final int MAX_ATTEMPTS = 4;
    private static final int QUEUE_CAPACITY = 10_000;

    private final DataSource dataSource;
    private final ThreadPoolExecutor executor;
    private final Timer fsync;
    private final DistributionSummary batchSize;

    JdbcRunner(DataSource dataSource, int threads, MeterRegistry registry) {
        this.dataSource = dataSource;
        this.executor = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS,
                new ArrayBlockingQueue<>(QUEUE_CAPACITY), daemonThreads());
        this.fsync = Timer.builder("cohort.store.fsync")
                .description("Time of one durable write of the TC store (a database commit)")
                .tag("store", "postgres")
                .publishPercentileHistogram()
                .register(registry);
        this.batchSize = DistributionSummary.builder("cohort.store.batch.size")
                .description("Records made durable by one write of the TC store")
                .tag("store", "postgres")
                .register(registry);
    }

    /** Marks a call that concerns no particular branch. */
    static final long NO_BRANCH = -1;
    /** SQLState of a unique (or primary key) violation. */
    static final String UNIQUE_VIOLATION = "23505";

    /** Runs {@code work} on the worker pool; the future completes on a worker thread. */
    <T> CompletableFuture<T> async(String op, String xid, long branchId, Work<T> work) {
        Task<T> task = new Task<>(op, xid, branchId, work);
        try {
            executor.execute(task);
        } catch (RejectedExecutionException e) {
            task.future.completeExceptionally(new StoreUnavailableException(where(op, xid, branchId)
                    + " rejected: " + (executor.isShutdown() ? "the store is closed"
                    : "the store's queue is full (" + QUEUE_CAPACITY + " pending calls)")));
        }
        return task.future;
    }

    /** Runs {@code work} on the calling thread (reads). */
    <T> T sync(String op, String xid, Work<T> work) {
        return sync(op, xid, NO_BRANCH, work);
    }

    private <T> T sync(String op, String xid, long branchId, Work<T> work) {
        for (int attempt = 1; ; attempt++) {
            try (Connection c = dataSource.getConnection()) {
                return work.run(c);
            } catch (SQLException e) {
                if (!isTransient(e) || attempt == MAX_ATTEMPTS) {
                    throw translate(where(op, xid, branchId), e, attempt);
                }
                log.debug("{} hit SQLState {} ({}), attempt {} of {}", where(op, xid, branchId), e.getSQLState(),
                        e.getMessage(), attempt, MAX_ATTEMPTS);
                // A short random pause so the two sides of a deadlock do not meet again at once.
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(ThreadLocalRandom.current().nextLong(1, 5L * attempt)));
            }
        }
    }

    /** "registerBranch for xid X, branch 7": the context of every message about one call. */
    static String where(String op, String xid, long branchId) {
        return op + (xid == null ? "" : " for xid " + xid) + (branchId == NO_BRANCH ? "" : ", branch " + branchId);
    }

    /**
     * Runs {@code work} in one database transaction: {@code work} calls {@link #commit} when it wants
     * its writes kept; anything not committed when it returns or throws is rolled back.
     */
    static <T> T inTransaction(Connection c, Work<T> work) throws SQLException {
        c.setAutoCommit(false);
        try {
            return work.run(c);
        } finally {
            try {
                c.rollback(); // no round trip when the work committed: the driver sees no open transaction
                c.setAutoCommit(true);
            } catch (SQLException e) {
                // The connection broke: the pool evicts it. What the work did or threw is the outcome.
                log.debug("Rollback on a broken store connection failed: {}", e.toString());
            }
        }
    }

    /** Commits a batch of {@code records} writes in one database transaction, timed. */
    void commit(Connection c, int records) throws SQLException {
        long start = System.nanoTime();
        c.commit();
        recordDurableWrite(start, records);
    }

    /** Records one database commit of {@code records} writes, begun at {@code startNanos}. */
    void recordDurableWrite(long startNanos, int records) {
        fsync.record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
        batchSize.record(records);
    }

    /** Executes a single-statement write in autocommit mode (the statement is the commit), timed. */
    int durableUpdate(PreparedStatement ps) throws SQLException {
        long start = System.nanoTime();
        int count = ps.executeUpdate();
        recordDurableWrite(start);
        return count;
    }

    void recordDurableWrite(long startNanos) {
        fsync.record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
        batchSize.record(1); // a call outside the group commit is its own database transaction
    }

    static boolean isTransient(SQLException e) {
        String state = e.getSQLState();
        return "40P01".equals(state) || "40001".equals(state); // deadlock detected, serialization failure
    }

    /**
     * Whether {@code e} is the fault of the data one statement wrote (a bad value, a constraint, a
     * limit), not of the database or the connection: a batch that fails so is worth splitting.
     */
    static boolean isFaultOfOneWrite(SQLException e) {
        String state = e.getSQLState();
        return state != null && (state.startsWith("22") || state.startsWith("23") || state.startsWith("54"));
    }

    static RuntimeException translate(String where, SQLException e, int attempts) {
        String state = e.getSQLState();
        if (UNIQUE_VIOLATION.equals(state)) {
            return new IllegalStateException(where + " failed: already exists (" + e.getMessage()
                    + ", SQLState 23505)", e);
        }
        if (isTransient(e)) {
            log.warn("{} gave up after {} attempts: {} (SQLState {})", where, attempts, e.getMessage(), state);
        }
        return new StoreUnavailableException(where + " failed: " + e.getMessage() + " (SQLState " + state
                + (attempts > 1 ? ", after " + attempts + " attempts" : "") + ")", e);
    }

    @Override
    public void close() {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(10, TimeUnit.SECONDS)) {
                log.warn("Store workers still busy 10 s after close; interrupting them");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Runnable r : executor.shutdownNow()) {
            Task<?> task = (Task<?>) r;
            task.future.completeExceptionally(new StoreUnavailableException(
                    where(task.op, task.xid, task.branchId) + " not run: the store was closed"));
        }
    }

    private static ThreadFactory daemonThreads() {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, "cohort-pg-store-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    private final class Task<T> implements Runnable {
        final String op;
        final String xid;
        final long branchId;
        final Work<T> work;
        final CompletableFuture<T> future = new CompletableFuture<>();

        Task(String op, String xid, long branchId, Work<T> work) {
            this.op = op;
            this.xid = xid;
            this.branchId = branchId;
            this.work = work;
        }

        @Override
        public void run() {
            T result;
            try {
                result = sync(op, xid, branchId, work);
            } catch (RuntimeException | Error e) {
                future.completeExceptionally(e);
                return;
            }
            future.complete(result);
        }
    }
}
