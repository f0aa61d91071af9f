package io.cohort.rm.jdbc;

import io.cohort.client.TcStoreUnavailableException;
import io.cohort.client.TcUnavailableException;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.TraceKeys;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.rm.GlobalLockContext;
import io.cohort.rm.UnsupportedStatementException;
import io.micrometer.observation.Observation;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A connection of a wrapped data source. Outside a global transaction it only forwards. Inside
 * one, its statements feed a {@link BranchBuffer}, and {@link #commit()} turns the local
 * transaction into a branch: register with the TC (taking global locks, retried on conflict) with
 * its undo log for the TC to hold, or insert the undo log in the same local transaction, and commit
 * (see {@link #commitBranch}). Not thread-safe, like any JDBC connection.
 */
final class ConnectionProxy extends DelegatingConnection {

    private static final Logger log = LoggerFactory.getLogger(ConnectionProxy.class);

    /** Runs undo-log inserts (MySQL, MariaDB) while their registrations are in flight; idle threads end after a minute. */
    private static final ExecutorService UNDO_INSERTS = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60,
            TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
                Thread t = new Thread(r, "cohort-rm-undo-insert");
                t.setDaemon(true);
                return t;
            });

    private final Resource resource;
    private BranchBuffer buffer;

    ConnectionProxy(Connection delegate, Resource resource) {
        super(delegate);
        this.resource = resource;
    }

    /** Whether the RM must look at statements on this thread: an XID is bound or a global lock asked for. */
    static boolean intercepting() {
        return XidContext.current() != null || GlobalLockContext.isActive();
    }

    /**
     * Runs one statement through the RM's SQL path; null means "run the application's statement as written".
     * With autocommit on, a statement that writes is its own local transaction and branch.
     */
    Outcome execute(Invocation inv) throws SQLException {
        String xid = XidContext.current();
        SqlPlan plan = resource.plans().plan(inv.sql());
        if (SqlPath.isPassThrough(plan, xid == null)) {
            return null;
        }
        if (buffer == null) {
            buffer = new BranchBuffer(xid);
        } else if (!Objects.equals(buffer.xid(), xid)) {
            throw new SQLException("This local transaction began " + (buffer.xid() == null ? "under a global lock"
                    : "in global transaction " + buffer.xid()) + " and now runs " + (xid == null ? "under a global lock"
                    : "in global transaction " + xid) + "; commit or roll back in between", "25000");
        }
        ExecContext ctx = new ExecContext(delegate, resource, buffer);
        if (!delegate.getAutoCommit() || plan instanceof SqlPlan.LockingSelect) {
            try {
                return executeOrDoom(ctx, plan, inv);
            } finally {
                if (buffer != null && buffer.isEmpty()) {
                    buffer = null;
                }
            }
        }
        if (xid != null && plan instanceof SqlPlan.Update update && resource.config().keyPinnedAutocommitUpdates()) {
            KeyPinnedUpdate.Pinned pinned = orDoom(ctx, () -> KeyPinnedUpdate.pin(ctx, update, inv));
            if (pinned != null) {
                buffer = null;
                return asBranch(xid, observation -> runKeyPinned(xid, pinned, inv, observation));
            }
        }
        delegate.setAutoCommit(false);
        boolean committed = false;
        try {
            Outcome outcome = executeOrDoom(ctx, plan, inv);
            commit();
            committed = true;
            return outcome;
        } finally {
            if (!committed) {
                buffer = null;
                rollbackQuietly();
            }
            delegate.setAutoCommit(true);
        }
    }

    /**
     * Runs the plan; if a statement the RM started fails inside a global transaction, the global
     * transaction is made rollback-only at the TC before the failure reaches the application, so no
     * rollback rule for the exception can commit the other branches without this work. A statement
     * refused before it ran ({@link UnsupportedStatementException}) changed nothing and dooms nothing.
     */
    private Outcome executeOrDoom(ExecContext ctx, SqlPlan plan, Invocation inv) throws SQLException {
        return orDoom(ctx, () -> SqlPath.execute(ctx, plan, inv));
    }

    /** A step of the SQL path that may fail. */
    @FunctionalInterface
    private interface SqlStep<T> {
        T run() throws SQLException;
    }

    private <T> T orDoom(ExecContext ctx, SqlStep<T> step) throws SQLException {
        try {
            return step.run();
        } catch (UnsupportedStatementException e) {
            throw e;
        } catch (SQLException | RuntimeException e) {
            if (ctx.xid() != null) {
                markRollbackOnly(ctx.xid(), "a statement failed" + (e instanceof SQLException sql && sql.getSQLState() != null
                        ? " (SQLState " + sql.getSQLState() + ")" : "") + ": " + e.getMessage());
            }
            throw e;
        }
    }

    @Override
    public void commit() throws SQLException {
        BranchBuffer b = buffer;
        buffer = null;
        if (b == null || b.isEmpty()) {
            delegate.commit();
            return;
        }
        if (b.xid() == null || b.records().isEmpty()) {
            try {
                GlobalLocks.awaitFree(resource, b.xid(), b.lockKeys());
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly();
                throw e;
            }
            delegate.commit();
            return;
        }
        asBranch(b.xid(), observation -> {
            commitBranch(b, observation);
            return null;
        });
    }

    /** Phase 1 of one branch, observed. */
    @FunctionalInterface
    private interface BranchStep<T> {
        T run(Observation observation) throws SQLException;
    }

    /** Runs phase 1 of a branch of {@code xid} as one span; the registration call to the TC is its child. */
    private <T> T asBranch(String xid, BranchStep<T> step) throws SQLException {
        if (resource.observations().isNoop()) {
            return step.run(Observation.NOOP);
        }
        Observation observation = Observation.createNotStarted(TraceKeys.RM_BRANCH_COMMIT, resource.observations())
                .contextualName("cohort branch local commit")
                .lowCardinalityKeyValue(TraceKeys.RESOURCE_ID, resource.resourceId())
                .highCardinalityKeyValue(TraceKeys.XID, xid)
                .highCardinalityKeyValue(TraceKeys.BRANCH_ID, TraceKeys.NONE)
                .start();
        try (Observation.Scope scope = observation.openScope()) {
            return step.run(observation);
        } catch (SQLException | RuntimeException e) {
            observation.error(e);
            throw e;
        } finally {
            observation.stop();
        }
    }

    /**
     * The one-round-trip branch of a key-pinned autocommit UPDATE ({@link KeyPinnedUpdate}): registered
     * first, taking the row's global lock (a refusal is the usual path's, and nothing ran), then the
     * statement, which updates, writes the undo log and commits at once. If it fails, its outcome is
     * read back from the undo log ({@link #afterFailedKeyPinned}).
     */
    private Outcome runKeyPinned(String xid, KeyPinnedUpdate.Pinned pinned, Invocation inv, Observation observation)
            throws SQLException {
        long branchId;
        UndoLogStatus status;
        try {
            RegisterBranchResponse registered = GlobalLocks.register(resource, xid, pinned.lockKeys(), pinned.tables(),
                    BranchIds.next());
            branchId = registered.getBranchId();
            status = registered.getProtocol() == TransactionProtocol.THREE_PHASE
                    ? UndoLogStatus.THREE_PHASE : UndoLogStatus.TWO_PHASE;
            observation.highCardinalityKeyValue(TraceKeys.BRANCH_ID, Long.toString(branchId));
        } catch (SQLException | RuntimeException e) {
            if (!(e.getCause() instanceof TcUnavailableException || e.getCause() instanceof TcStoreUnavailableException)) {
                markRollbackOnly(xid, "its branch could not be registered: " + e.getMessage());
            }
            throw e;
        }
        try {
            return new Outcome(KeyPinnedUpdate.run(delegate, pinned, inv.params(), xid, branchId, status), null, null);
        } catch (SQLException | RuntimeException e) {
            afterFailedKeyPinned(xid, branchId, e);
            throw e;
        }
    }

    /**
     * The one-round-trip statement failed (or its answer was lost, or its rows were not the locked
     * one). The undo log tells what happened: none — nothing was applied, and the branch is reported
     * failed (which dooms the global transaction); a rollback marker — the TC rolled the branch back
     * first; the log — the statement committed, and the global transaction must roll it back.
     */
    private void afterFailedKeyPinned(String xid, long branchId, Exception e) throws SQLException {
        UndoLogTable.Row row;
        try (Connection c = resource.target().getConnection()) {
            row = resource.undoLog().lock(c, xid, branchId);
        } catch (SQLException | RuntimeException check) {
            log.warn("The statement of branch {} of {} failed ({}) and its outcome cannot be checked ({}); the TC will"
                    + " settle it", branchId, xid, e.getMessage(), check.getMessage());
            markRollbackOnly(xid, "a statement failed: " + e.getMessage());
            return;
        }
        if (row == null) {
            report(xid, branchId, "its statement failed: " + e.getMessage());
        } else if (row.status() == UndoLogStatus.ROLLBACK_MARKER) {
            report(xid, branchId, "its statement failed: " + e.getMessage());
            throw new SQLException("Branch " + branchId + " of global transaction " + xid + " was already rolled back"
                    + " by the TC (the global transaction ended or timed out); its statement did not run", "40000", e);
        } else {
            markRollbackOnly(xid, "a statement failed after it committed its branch: " + e.getMessage());
        }
    }

    /**
     * The largest encoded undo log the TC holds for a branch ({@link #commitBranch}); a larger one
     * stays a row in the application's database, so the TC's log and memory stay small per branch.
     */
    static final int MAX_IMAGES_AT_TC = 16 * 1024;

    /**
     * Phase 1 of the branch {@code b}: registered with the TC under an id the RM chose
     * ({@link BranchIds}), then committed. Where it can, the RM sends the branch's undo log to the TC
     * inside the registration ({@link BranchData}), which makes it durable with the branch: a
     * two-phase branch then commits its local transaction as it is, with no undo-log row to insert
     * now or delete after phase 2, and a rollback reads from its rows whether the commit happened
     * ({@link ImageApplier#undoImagesHeldByTc}). It does not when {@code cohort.rm.undo.images-at-tc}
     * is off, and cannot for an undo log over {@link #MAX_IMAGES_AT_TC}, nor for a branch that
     * inserts where a locking read does not wait for an insert in flight (PostgreSQL,
     * {@link Dialect#lockingReadWaitsForInsertsInFlight}): a rollback arriving before the local
     * commit would see no row and let the commit through. A three-phase
     * branch (the TC's answer says which) writes its undo log as a row in any case: its RM may have
     * to finish it alone, without the TC.
     *
     * <p>The undo-log row, where there is one, goes in the same local transaction. On PostgreSQL the
     * insert rides with the COMMIT after the answer (one round trip). Where the dialect cannot do that
     * (MySQL, MariaDB), a two-phase branch's undo log that stays a row goes to the database on another
     * thread while this one waits for the TC (the connection is not used here meanwhile), so that after
     * the answer only the COMMIT is left — with, before it, the undo log's re-keying to the id the TC
     * answered (a TC older than minor 7 assigns its own) or its three-phase mark. A registration that
     * fails rolls the local transaction back whole, any undo log with it.
     */
    private void commitBranch(BranchBuffer b, Observation observation) throws SQLException {
        String xid = b.xid();
        long chosen = BranchIds.next();
        byte[] undo = resource.undoCodec().encode(b.records());
        boolean imagesAtTc = tcMayHoldImages(b.records(), undo);
        CompletableFuture<Void> inserted = imagesAtTc || resource.undoLog().insertsWithCommit() ? null
                : insertUndoLog(xid, chosen, undo);
        long branchId;
        boolean threePhase;
        try {
            RegisterBranchResponse registered = GlobalLocks.register(resource, xid, b.lockKeys(),
                    imagesAtTc ? BranchData.tablesAndImages(b.records(), undo) : BranchData.tables(b.records()), chosen);
            branchId = registered.getBranchId();
            threePhase = registered.getProtocol() == TransactionProtocol.THREE_PHASE;
            observation.highCardinalityKeyValue(TraceKeys.BRANCH_ID, Long.toString(branchId));
        } catch (SQLException | RuntimeException e) {
            awaitQuietly(inserted); // the connection is free again only once the insert has answered
            rollbackQuietly();
            // With no TC to answer, or a TC whose store cannot write, telling it would fail too.
            if (!(e.getCause() instanceof TcUnavailableException || e.getCause() instanceof TcStoreUnavailableException)) {
                markRollbackOnly(xid, "its branch could not be registered: " + e.getMessage());
            }
            throw e;
        }
        if (imagesAtTc && !threePhase) {
            commitWithImagesAtTc(xid, branchId);
            return;
        }
        UndoLogStatus status = threePhase ? UndoLogStatus.THREE_PHASE : UndoLogStatus.TWO_PHASE;
        try {
            if (inserted == null) {
                resource.undoLog().insertAndCommit(delegate, xid, branchId, undo, status);
            } else {
                await(inserted);
                resource.undoLog().commitInserted(delegate, xid, chosen, branchId, status);
            }
        } catch (SQLException e) {
            rollbackQuietly();
            if (resource.dialect().isUniqueViolation(e)) {
                // A rollback of the branch found no undo log and left its marker first.
                report(xid, branchId, "undo log insert failed: " + e.getMessage());
                throw new SQLException("Branch " + branchId + " of global transaction " + xid + " was already rolled back"
                        + " by the TC (the global transaction ended or timed out); the local transaction was rolled back",
                        "40000", e);
            }
            if (inserted != null && inserted.isCompletedExceptionally()) {
                report(xid, branchId, "undo log insert failed: " + e.getMessage()); // nothing committed, for sure
            } else {
                afterFailedCommit(xid, branchId, e);
            }
            throw e;
        }
    }

    /** Whether the TC may hold the undo log {@code undo} of a branch that wrote {@code records} (see {@link #commitBranch}). */
    private boolean tcMayHoldImages(List<UndoRecord> records, byte[] undo) {
        if (!resource.config().imagesAtTc() || undo.length > MAX_IMAGES_AT_TC) {
            return false;
        }
        if (resource.dialect().lockingReadWaitsForInsertsInFlight()) {
            return true;
        }
        for (UndoRecord r : records) {
            if (r.op() == UndoRecord.Op.INSERT) {
                return false;
            }
        }
        return true;
    }

    /**
     * The local commit of a two-phase branch whose images the TC holds. If it fails, whether it
     * happened cannot be told here (its answer may be what was lost), and it need not be: the global
     * transaction is made rollback-only, and the rollback reads from the rows what there is to undo.
     */
    private void commitWithImagesAtTc(String xid, long branchId) throws SQLException {
        try {
            delegate.commit();
        } catch (SQLException e) {
            rollbackQuietly();
            markRollbackOnly(xid, "the local commit of branch " + branchId + " failed, and may or may not have"
                    + " happened: " + e.getMessage());
            throw e;
        }
    }

    /** Sends the undo log's insert on another thread; the answer completes the future. */
    private CompletableFuture<Void> insertUndoLog(String xid, long branchId, byte[] rollbackInfo) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        UNDO_INSERTS.execute(() -> {
            try {
                resource.undoLog().insert(delegate, xid, branchId, rollbackInfo);
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        return done;
    }

    /** Waits for the insert, uninterruptibly: the connection must not be used while it runs. */
    private static void await(CompletableFuture<Void> inserted) throws SQLException {
        try {
            inserted.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof SQLException sql) {
                throw sql;
            }
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new SQLException("Undo log insert failed: " + e.getCause(), "XX000", e.getCause());
        }
    }

    private static void awaitQuietly(CompletableFuture<Void> inserted) {
        if (inserted == null) {
            return;
        }
        try {
            inserted.join();
        } catch (CompletionException ignored) {
            // the local transaction is rolled back next, the undo log with it
        }
    }

    /**
     * The undo-log insert or the commit failed — or the commit's answer was lost. Report PHASE1_FAILED
     * only when sure: if the undo log is in the database the branch did commit, and the TC's rollback
     * will undo it.
     */
    private void afterFailedCommit(String xid, long branchId, SQLException e) {
        Boolean committed = null;
        try (Connection c = resource.target().getConnection()) {
            committed = resource.undoLog().holdsImages(c, xid, branchId);
        } catch (SQLException check) {
            log.warn("Commit of branch {} of {} failed ({}) and its outcome cannot be checked ({}); the TC will settle it",
                    branchId, xid, e.getMessage(), check.getMessage());
        }
        if (Boolean.FALSE.equals(committed)) {
            report(xid, branchId, "undo log insert or local commit failed: " + e.getMessage());
        }
    }

    private void report(String xid, long branchId, String reason) {
        try {
            resource.coordinator().reportBranch(xid, branchId, BranchStatusCode.BRANCH_PHASE1_FAILED, reason);
        } catch (RuntimeException r) {
            log.warn("Could not report branch {} of {} as failed ({}); the TC will roll it back on its own",
                    branchId, xid, r.getMessage());
        }
    }

    /** Best effort: when the TC cannot be told, the TM's default rule (roll back on any exception) still applies. */
    private void markRollbackOnly(String xid, String reason) {
        // The TC keeps a bounded reason and refuses a request whose reason is over 4 KiB.
        String bounded = reason.length() <= 2000 ? reason : reason.substring(0, 2000) + "...";
        try {
            GlobalStatusResponse answer = resource.coordinator().markRollbackOnly(xid, resource.resourceId(), bounded);
            if (GlobalStatus.fromWire(answer.getStatus()).isCommitDecided()) {
                log.error("Global transaction {} was already decided to commit ({}) when work of resource {} failed "
                        + "in phase 1; that work is not part of it", xid, answer.getStatus(), resource.resourceId());
            }
        } catch (RuntimeException r) {
            log.warn("Could not mark global transaction {} rollback-only after work of resource {} failed ({}); "
                    + "it must not be committed", xid, resource.resourceId(), r.getMessage());
        }
    }

    private void rollbackQuietly() {
        try {
            delegate.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; the pool discards it and the transaction ends with it
        }
    }

    @Override
    public void rollback() throws SQLException {
        buffer = null;
        delegate.rollback();
    }

    @Override
    public void setAutoCommit(boolean autoCommit) throws SQLException {
        if (autoCommit && buffer != null && !delegate.getAutoCommit()) {
            commit(); // JDBC: switching autocommit on commits the transaction in progress
        }
        delegate.setAutoCommit(autoCommit);
    }

    @Override
    public void close() throws SQLException {
        buffer = null;
        delegate.close();
    }

    // ---- statements ----

    @Override
    public Statement createStatement() throws SQLException {
        return new StatementProxy(this, delegate.createStatement());
    }

    @Override
    public Statement createStatement(int type, int concurrency) throws SQLException {
        return new StatementProxy(this, delegate.createStatement(type, concurrency));
    }

    @Override
    public Statement createStatement(int type, int concurrency, int holdability) throws SQLException {
        return new StatementProxy(this, delegate.createStatement(type, concurrency, holdability));
    }

    @Override
    public PreparedStatement prepareStatement(String sql) throws SQLException {
        return prepared(delegate.prepareStatement(sql), sql, false, null);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int type, int concurrency) throws SQLException {
        return prepared(delegate.prepareStatement(sql, type, concurrency), sql, false, null);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int type, int concurrency, int holdability)
            throws SQLException {
        return prepared(delegate.prepareStatement(sql, type, concurrency, holdability), sql, false, null);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int autoGeneratedKeys) throws SQLException {
        return prepared(delegate.prepareStatement(sql, autoGeneratedKeys), sql,
                autoGeneratedKeys == Statement.RETURN_GENERATED_KEYS, null);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int[] columnIndexes) throws SQLException {
        return prepared(delegate.prepareStatement(sql, columnIndexes), sql, true, null);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, String[] columnNames) throws SQLException {
        return prepared(delegate.prepareStatement(sql, columnNames), sql, true, columnNames);
    }

    private PreparedStatement prepared(PreparedStatement ps, String sql, boolean keys, String[] keyColumns) {
        return new PreparedStatementProxy(this, ps, sql, intercepting() ? new ParamLog() : null, keys, keyColumns);
    }

    @Override
    public CallableStatement prepareCall(String sql) throws SQLException {
        refuseCall(sql);
        return delegate.prepareCall(sql);
    }

    @Override
    public CallableStatement prepareCall(String sql, int type, int concurrency) throws SQLException {
        refuseCall(sql);
        return delegate.prepareCall(sql, type, concurrency);
    }

    @Override
    public CallableStatement prepareCall(String sql, int type, int concurrency, int holdability) throws SQLException {
        refuseCall(sql);
        return delegate.prepareCall(sql, type, concurrency, holdability);
    }

    private static void refuseCall(String sql) throws SQLException {
        if (XidContext.current() != null) {
            throw new UnsupportedStatementException(sql, "a stored procedure call changes data the RM cannot see",
                    "Call it outside the global transaction, or write its statements in the application.");
        }
    }
}
