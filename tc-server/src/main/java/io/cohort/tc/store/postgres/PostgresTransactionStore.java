package io.cohort.tc.store.postgres;

import com.zaxxer.hikari.HikariDataSource;
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
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.Array;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TC store in PostgreSQL, shared by several TC replicas at once (HA). Every guarantee of
 * {@link TransactionStore} holds across processes because the database enforces it: a row lock is
 * a primary key, registration share-locks the global row while it checks BEGIN, and a status change
 * is a conditional UPDATE. No Java lock guards anything.
 *
 * <p><b>Leases.</b> Every replica works only on the unended transactions it holds the lease of (see
 * {@link Leases}): those it began, decided or took over. A background thread renews all of them
 * in one statement every {@code renewInterval}; {@link #claimUnended} takes over the ones whose
 * lease ran out. Lease times are the database's clock, never this process's. The TC's other
 * decisions by time (timeouts above all) use {@link #sharedClock}, this process's clock moved onto
 * the database's, re-measured at every renewal. A replica whose renewals fail reports itself
 * unhealthy (see {@link #checkHealth}) well before its leases run out.
 *
 * <p><b>Group commit.</b> The writes of the transaction life (begin, registration, status changes,
 * branch results, lock release) go through {@link GroupCommit}: per kind of write, a few writer
 * threads (see {@link #writersPerKind}) each write everything of that kind queued for them while
 * their previous batch committed in one database
 * transaction (one round trip; registrations: a statement and a commit) and has the callers'
 * futures completed after the commit on a pool of its own, so many calls share one WAL flush and
 * one round trip and no caller's next step holds up a writer. New transactions commit without
 * waiting for the flush (see {@link Sql#INSERT_GLOBAL_ASYNC}). Lease and purge writes run on a worker pool; reads run on
 * the caller's thread, except those of the transactions this replica began, which it keeps in memory
 * until they end here (see {@link OwnedTransactions}). The caps' count of unfinished transactions is cached briefly (see
 * {@link UnfinishedCount}).
 */
public final class PostgresTransactionStore implements TransactionStore {

    /** Classpath location of {@code sql/tc/postgresql.sql}. */
    public static final String SCHEMA_RESOURCE = Schema.RESOURCE;

    private static final Logger log = LoggerFactory.getLogger(PostgresTransactionStore.class);
    private static final int DEFAULT_THREADS = 10;
    private static final int HEALTH_TIMEOUT_SECONDS = 2;

    /** Most expired transactions one recovery pass takes over, so survivors share a dead replica's backlog. */
    static final int MAX_TAKEOVER = 500;

    private static final int MAX_WRITERS_PER_KIND = 4;

    private final Clock clock;
    private final JdbcRunner jdbc;
    private final AutoCloseable ownedPool;
    private final Leases leases;
    private final long leaseMs;
    private final ScheduledExecutorService renewer;
    private final DatabaseClock databaseClock;
    /** {@link System#nanoTime} of the last successful renewal (or of the start). */
    private volatile long lastRenewalNanos;
    private final GroupCommit writes;
    private final OwnedTransactions owned = new OwnedTransactions();
    private final UnfinishedCount unfinished;

    /**
     * A store over {@code dataSource}, which the caller keeps owning (and closes after the store).
     *
     * @param initSchema apply {@link #SCHEMA_RESOURCE} now (idempotent); off when a person manages the DDL
     */
    public PostgresTransactionStore(DataSource dataSource, Clock clock, MeterRegistry registry, boolean initSchema) {
        this(dataSource, Leases.defaults(), clock, registry, initSchema, null);
    }

    private PostgresTransactionStore(DataSource dataSource, Leases leases, Clock clock, MeterRegistry registry,
            boolean initSchema, AutoCloseable ownedPool) {
        Objects.requireNonNull(dataSource, "dataSource");
        this.clock = Objects.requireNonNull(clock, "clock");
        this.leases = Objects.requireNonNull(leases, "leases");
        this.leaseMs = leases.leaseTime().toMillis();
        this.jdbc = new JdbcRunner(dataSource, threads(dataSource), Objects.requireNonNull(registry, "registry"));
        this.ownedPool = ownedPool;
        this.unfinished = new UnfinishedCount(jdbc, UnfinishedCount.DEFAULT_MAX_AGE);
        if (initSchema) {
            try {
                Schema.apply(jdbc);
                log.info("TC store schema {} applied", SCHEMA_RESOURCE);
            } catch (RuntimeException e) {
                jdbc.close();
                throw e;
            }
        }
        this.databaseClock = new DatabaseClock(clock);
        syncClockSafely();
        this.lastRenewalNanos = System.nanoTime();
        this.writes = new GroupCommit(dataSource, jdbc, new GroupCommit.Owner(leases.replicaId(), leaseMs),
                threads(dataSource), writersPerKind(threads(dataSource)), this::written);
        // Its own thread: a slow recovery pass or a busy store pool must not delay the renewal.
        this.renewer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "cohort-tc-lease-renewal");
            t.setDaemon(true);
            return t;
        });
        long every = leases.renewInterval().toMillis();
        renewer.scheduleWithFixedDelay(this::renewSafely, every, every, TimeUnit.MILLISECONDS);
        log.info("TC replica {} holds leases for {} and renews them every {}", leases.replicaId(), leases.leaseTime(),
                leases.renewInterval());
    }

    /** A store with its own HikariCP pool built from {@code config}; closing the store closes the pool. */
    public static PostgresTransactionStore create(PostgresStoreConfig config, Clock clock, MeterRegistry registry,
            boolean initSchema) {
        return create(config, Leases.defaults(), clock, registry, initSchema);
    }

    /** As {@link #create(PostgresStoreConfig, Clock, MeterRegistry, boolean)}, as the replica {@code leases} names. */
    public static PostgresTransactionStore create(PostgresStoreConfig config, Leases leases, Clock clock,
            MeterRegistry registry, boolean initSchema) {
        HikariDataSource pool;
        try {
            pool = config.createPool();
        } catch (RuntimeException e) {
            throw new StoreUnavailableException("Cannot open the TC store pool to " + config.url() + " as "
                    + config.username() + ": " + e.getMessage(), e);
        }
        try {
            return new PostgresTransactionStore(pool, leases, clock, registry, initSchema, pool);
        } catch (RuntimeException e) {
            pool.close();
            throw e;
        }
    }

    /**
     * Batches of one kind in flight at once: one per 16 connections of the pool, at most 4, so the
     * hot kinds (begin, registration, status change, lock release) cannot hold every connection and
     * starve the reads and the lease renewal. One at the default pool of 16: a second writer halves
     * the batches, and on a small database server the extra commits cost more CPU than the shorter
     * queue saves (bench/MEASUREMENTS.md, "PostgreSQL store, writers and statements").
     */
    static int writersPerKind(int poolSize) {
        return Math.max(1, Math.min(MAX_WRITERS_PER_KIND, poolSize / 16));
    }

    private static int threads(DataSource dataSource) {
        return dataSource instanceof HikariDataSource hikari && hikari.getMaximumPoolSize() > 0
                ? hikari.getMaximumPoolSize() : DEFAULT_THREADS;
    }

    @Override
    public CompletableFuture<Void> insertGlobal(GlobalTransaction tx) {
        CompletableFuture<Boolean> done = writes.submit(new GroupCommit.InsertGlobal(tx, false));
        unfinished.begun(tx.applicationId());
        return done.thenApply(created -> null);
    }

    @Override
    public CompletableFuture<Boolean> createGlobal(GlobalTransaction tx) {
        CompletableFuture<Boolean> created = writes.submit(new GroupCommit.InsertGlobal(tx, true));
        if (!tx.status().isFinal()) {
            unfinished.begun(tx.applicationId()); // at worst counted once too often until the next exact count
        }
        return created;
    }

    @Override
    public CompletableFuture<RegisterResult> registerBranch(Branch branch, List<RowKey> rows) {
        return writes.submit(held(new GroupCommit.Register(branch, rows)));
    }

    /**
     * One write: the registration's batch creates the transaction unless it exists, in the same
     * database transaction and commit as the registrations (see {@link Registrations}), so the
     * first registration of a TM-made XID waits for one commit, not for two in a row.
     */
    @Override
    public CompletableFuture<CreatedRegistration> createAndRegister(GlobalTransaction tx, Branch branch,
                                                                    List<RowKey> rows) {
        if (tx.status() != GlobalStatus.BEGIN) {
            throw new IllegalArgumentException("createAndRegister creates a transaction in BEGIN, not " + tx.status()
                    + " (" + tx.xid() + ")");
        }
        GroupCommit.Register write = held(new GroupCommit.Register(branch, rows, tx));
        unfinished.begun(tx.applicationId()); // at worst counted once too often until the next exact count
        return writes.submit(write).thenApply(result -> new CreatedRegistration(write.created, result));
    }

    /** This replica's memory only: a transaction another replica began (or that ended) would need a read. */
    @Override
    public Optional<GlobalTransaction> findGlobalWithoutReading(String xid) {
        return Optional.ofNullable(owned.global(xid));
    }

    @Override
    public CompletableFuture<Boolean> transitionGlobal(String xid, GlobalStatus from, GlobalStatus to, String reason,
                                                       ChangeCause cause) {
        GroupCommit.Transition move = new GroupCommit.Transition(xid, from, to, reason, clock.millis(), cause);
        move.foreign = owned.global(xid) == null;
        if (to == GlobalStatus.ASYNC_COMMITTING && !move.foreign) {
            move.releases = owned.knownRows(xid); // a 2PC commit frees its rows with the decision
        }
        return writes.submit(move);
    }

    @Override
    public CompletableFuture<Void> markHeuristic(String xid, String evidence) {
        return writes.submit(held(new GroupCommit.Heuristic(xid, evidence, clock.millis()))).thenApply(found -> null);
    }

    @Override
    public CompletableFuture<Boolean> updateBranch(String xid, long branchId, BranchStatus status, String reason,
                                                   ChangeCause cause) {
        return writes.submit(held(new GroupCommit.UpdateBranch(xid, branchId, status, reason, clock.millis(), cause)));
    }

    /** Marks a write of a transaction this replica holds in memory as its own (see {@link OwnedTransactions}). */
    private <W extends GroupCommit.Write<?>> W held(W write) {
        write.foreign = !owned.startWrite(write.xid());
        return write;
    }

    /** Brings this replica's memory of its transactions up to date with a write, before its caller hears of it. */
    private void written(GroupCommit.Write<?> w) {
        boolean ok = w.failure == null;
        if (w instanceof GroupCommit.Release release) {
            if (ok && release.afterDecision) {
                owned.locksReleased(release.xid);
            }
            return;
        }
        if (w instanceof GroupCommit.InsertGlobal i) {
            if (ok && Boolean.TRUE.equals(i.result) && !i.tx.status().isFinal()) { // only what this replica created
                owned.begun(i.tx);
            }
        } else if (ok && w instanceof GroupCommit.Register r && r.created) {
            owned.createdWith(r.create, r.result instanceof RegisterResult.Registered ? r.branch : null);
        } else if (w.foreign) {
            return; // a transaction this replica does not hold: nothing to bring up to date
        } else if (w instanceof GroupCommit.Register r) {
            owned.registered(r.xid(), ok && r.result instanceof RegisterResult.Registered ? r.branch : null);
        } else if (w instanceof GroupCommit.Transition t) {
            owned.transitioned(t.xid, t.to, t.reason, t.atMs, ok && t.result, t.changesAfter);
            if (ok && t.result && t.releases != null) { // the move was made, so were its releases
                owned.decisionReleased(t.xid, t.releases);
            }
        } else if (w instanceof GroupCommit.Heuristic h) {
            owned.heuristicMarked(h.xid, h.evidence, h.atMs, ok && h.result);
        } else if (w instanceof GroupCommit.UpdateBranch u) {
            owned.branchUpdated(u.xid, u.branchId, u.status, u.reason, ok && u.result);
        }
    }

    /**
     * The coordinator releases a 2PC transaction's locks at its decision and again before its end
     * (in case a crash came between). Neither costs anything when this replica's move to
     * ASYNC_COMMITTING deleted them (see {@link Sql#TRANSITION_GLOBALS}), nor the second when this
     * replica's memory has the first done (see {@link OwnedTransactions#decided}).
     */
    @Override
    public CompletableFuture<Void> releaseLocks(String xid) {
        if (owned.locksGone(xid)) {
            return CompletableFuture.completedFuture(null);
        }
        GroupCommit.Release release = new GroupCommit.Release(xid, owned.lockableRows(xid));
        release.afterDecision = owned.decided(xid);
        return writes.submit(release);
    }

    /**
     * Nothing to write: the final move already hid the branches from every reader, and the
     * retention purge deletes their rows with the global row (see {@link Sql#FIND_BRANCHES}).
     */
    @Override
    public CompletableFuture<Void> deleteBranches(String xid) {
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletableFuture<Integer> purgeEndedBefore(long cutoffEpochMs) {
        return jdbc.async("purgeEndedBefore", null, JdbcRunner.NO_BRANCH, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.PURGE_ENDED_BEFORE)) {
                ps.setObject(1, Rows.timestamp(cutoffEpochMs));
                long start = System.nanoTime();
                int removed;
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    removed = rs.getInt(1);
                }
                jdbc.recordDurableWrite(start);
                log.debug("Purged {} ended global transactions last updated before {}", removed, cutoffEpochMs);
                return removed;
            }
        });
    }

    @Override
    public Optional<GlobalTransaction> findGlobal(String xid) {
        GlobalTransaction held = owned.global(xid);
        if (held != null) {
            return Optional.of(held);
        }
        return jdbc.sync("findGlobal", xid, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.FIND_GLOBAL)) {
                ps.setString(1, xid);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(Rows.global(rs)) : Optional.empty();
                }
            }
        });
    }

    @Override
    public List<Branch> findBranches(String xid) {
        List<Branch> held = owned.branches(xid);
        if (held != null) {
            return held;
        }
        return jdbc.sync("findBranches", xid, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.FIND_BRANCHES)) {
                ps.setString(1, xid);
                List<Branch> branches = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        branches.add(Rows.branch(rs));
                    }
                }
                return branches;
            }
        });
    }

    @Override
    public List<StatusChange> history(String xid) {
        return jdbc.sync("history", xid, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.HISTORY)) {
                ps.setString(1, xid);
                ps.setString(2, xid);
                ps.setString(3, xid);
                ps.setString(4, xid);
                List<StatusChange> changes = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        long branchId = rs.getLong(2);
                        int status = rs.getShort(3);
                        changes.add(new StatusChange(Rows.millis(rs, 1), branchId, branchId == StatusChange.GLOBAL
                                ? GlobalStatus.ofCode(status).name() : BranchStatus.ofCode(status).name(),
                                ChangeCause.ofCode(rs.getShort(4)), rs.getString(5)));
                    }
                }
                return changes;
            }
        });
    }

    @Override
    public List<RowLock> findLocks(String xid) {
        return jdbc.sync("findLocks", xid, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.FIND_LOCKS)) {
                ps.setString(1, xid);
                return locks(ps);
            }
        });
    }

    @Override
    public Optional<RowLock> findConflict(Collection<RowKey> rows, String ownXid) {
        if (rows.isEmpty()) {
            return Optional.empty();
        }
        return jdbc.sync("findConflict", ownXid, c -> {
            Array[] columns = Rows.columns(c, rows);
            try (PreparedStatement ps = c.prepareStatement(Sql.FIND_CONFLICT)) {
                ps.setArray(1, columns[0]);
                ps.setArray(2, columns[1]);
                ps.setArray(3, columns[2]);
                ps.setString(4, ownXid == null ? "" : ownXid);
                List<RowLock> found = locks(ps);
                return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
            }
        });
    }

    @Override
    public Page<GlobalTransaction> listGlobals(GlobalQuery query, int page, int size) {
        Listings.checkPage(page, size);
        return jdbc.sync("listGlobals", null, c -> Listings.globals(c, query, page, size));
    }

    @Override
    public Page<RowLock> listLocks(String resourceIdOrNull, int page, int size) {
        Listings.checkPage(page, size);
        return jdbc.sync("listLocks", null, c -> Listings.locks(c, resourceIdOrNull, page, size));
    }

    @Override
    public List<GlobalTransaction> findUnended() {
        return jdbc.sync("findUnended", null, c -> {
            List<GlobalTransaction> unended = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(Sql.FIND_UNENDED); ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    unended.add(Rows.global(rs));
                }
            }
            return unended;
        });
    }

    /** This replica's id, as written to {@code cohort_global_tx.owner}. */
    public String replicaId() {
        return leases.replicaId();
    }

    @Override
    public List<GlobalTransaction> claimUnended(Set<String> reachableResources) {
        long start = System.nanoTime();
        List<GlobalTransaction> mine = jdbc.sync("claimUnended", null, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.CLAIM)) {
                ps.setString(1, leases.replicaId());
                ps.setLong(2, leaseMs);
                ps.setArray(3, c.createArrayOf("text", reachableResources.toArray()));
                ps.setInt(4, MAX_TAKEOVER);
                ps.setString(5, leases.replicaId());
                List<GlobalTransaction> claimed = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        claimed.add(Rows.global(rs));
                    }
                }
                return claimed;
            }
        });
        owned.retainClaimed(mine, start);
        return mine;
    }

    @Override
    public CompletableFuture<Boolean> acquireLease(String xid, boolean evenIfHeld) {
        return jdbc.async("acquireLease", xid, JdbcRunner.NO_BRANCH, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.ACQUIRE_LEASE)) {
                ps.setString(1, leases.replicaId());
                ps.setLong(2, leaseMs);
                ps.setString(3, xid);
                ps.setBoolean(4, evenIfHeld);
                ps.setString(5, leases.replicaId());
                return ps.executeUpdate() == 1;
            }
        });
    }

    @Override
    public boolean releaseLease(String xid) {
        owned.forget(xid); // whoever takes it over may write to it
        return jdbc.sync("releaseLease", xid, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.RELEASE_LEASE)) {
                ps.setString(1, xid);
                ps.setString(2, leases.replicaId());
                ps.executeUpdate();
                return true;
            }
        });
    }

    /** Renews every lease of this replica now; answers how many transactions it holds. */
    int renewLeases() {
        return jdbc.sync("renewLeases", null, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.RENEW_LEASES)) {
                ps.setString(1, leases.replicaId());
                ps.setLong(2, leaseMs);
                return ps.executeUpdate();
            }
        });
    }

    private void renewSafely() {
        try {
            long start = System.nanoTime();
            renewLeases();
            lastRenewalNanos = start;
        } catch (RuntimeException e) {
            // Leases not renewed within the lease time pass to other replicas: safe, only duplicated work.
            log.warn("Renewing the leases of TC replica {} failed ({}); trying again in {}", leases.replicaId(),
                    e.getMessage(), leases.renewInterval());
        }
        syncClockSafely();
    }

    /** Measures the database's clock against this process's once (see {@link DatabaseClock}). */
    void syncClock() {
        jdbc.sync("readDatabaseClock", null, c -> {
            try (PreparedStatement ps = c.prepareStatement(Sql.DATABASE_TIME)) {
                long before = databaseClock.localMillis();
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    long database = rs.getLong(1);
                    databaseClock.sample(before, database, databaseClock.localMillis());
                }
            }
            return null;
        });
    }

    private void syncClockSafely() {
        try {
            long previous = databaseClock.offsetMs();
            boolean first = databaseClock.errorMs() < 0;
            syncClock();
            if (first || Math.abs(databaseClock.offsetMs() - previous) > 1_000) {
                log.info("TC replica {} decides by the database's clock: this process's clock is {} ms {} it (+-{} ms)",
                        leases.replicaId(), Math.abs(databaseClock.offsetMs()),
                        databaseClock.offsetMs() >= 0 ? "behind" : "ahead of", databaseClock.errorMs());
            }
        } catch (RuntimeException e) {
            log.warn("Reading the database's clock failed ({}); TC replica {} keeps the last offset ({})",
                    e.getMessage(), leases.replicaId(), databaseClock);
        }
    }

    /** The database's clock, as this process measures it: timeouts agree between replicas. */
    @Override
    public Optional<Clock> sharedClock() {
        return Optional.of(databaseClock);
    }

    @Override
    public Unfinished countUnfinished(String applicationId) {
        return unfinished.count(applicationId, false);
    }

    @Override
    public Unfinished countUnfinishedExactly(String applicationId) {
        return unfinished.count(applicationId, true);
    }

    @Override
    public Optional<Unfinished> countUnfinishedWithoutReading(String applicationId) {
        return unfinished.countWithoutReading(applicationId);
    }

    @Override
    public String whyUnknown() {
        return "it never began, or it finished and was purged after the retention period (cohort.tc.recovery.retention)";
    }

    @Override
    public Map<GlobalStatus, Long> countByStatus() {
        return jdbc.sync("countByStatus", null, c -> {
            Map<GlobalStatus, Long> counts = new EnumMap<>(GlobalStatus.class);
            try (PreparedStatement ps = c.prepareStatement(Sql.COUNT_BY_STATUS); ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    counts.put(GlobalStatus.ofCode(rs.getShort(1)), rs.getLong(2));
                }
            }
            return counts;
        });
    }

    @Override
    public void checkHealth() {
        jdbc.sync("checkHealth", null, c -> {
            try (Statement s = c.createStatement()) {
                s.setQueryTimeout(HEALTH_TIMEOUT_SECONDS);
                s.execute(Sql.HEALTH);
            }
            return null;
        });
        long sinceRenewal = System.nanoTime() - lastRenewalNanos;
        if (sinceRenewal > leases.leaseTime().toNanos() / 2) {
            throw new StoreUnavailableException("TC replica " + leases.replicaId() + " has not renewed its leases for "
                    + sinceRenewal / 1_000_000 + " ms (lease time " + leases.leaseTime().toMillis() + " ms, renewed every "
                    + leases.renewInterval().toMillis() + " ms): other replicas take its transactions over once the"
                    + " lease runs out; see the log for why renewing failed");
        }
    }

    @Override
    public void close() {
        renewer.shutdownNow();
        writes.close();
        jdbc.close();
        if (ownedPool != null) {
            try {
                ownedPool.close();
            } catch (Exception e) {
                log.warn("Closing the TC store pool failed: {}", e.toString());
            }
        }
    }

    private static List<RowLock> locks(PreparedStatement ps) throws SQLException {
        List<RowLock> locks = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                locks.add(Rows.lock(rs, 1));
            }
        }
        return locks;
    }
}
