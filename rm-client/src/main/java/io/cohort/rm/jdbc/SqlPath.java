package io.cohort.rm.jdbc;

import io.cohort.rm.UnsupportedStatementException;
import java.sql.SQLException;

/**
 * <b>The RM's SQL path</b>, from the application's statement to the branch:
 * <ol>
 *   <li>{@link ConnectionProxy} and the statement proxies pass everything
 *       straight through unless an XID is bound ({@link io.cohort.client.XidContext}) or a global
 *       lock is asked for ({@link io.cohort.rm.GlobalLockContext}) — outside them the RM costs a
 *       thread-local read;</li>
 *   <li>inside, the SQL is classified once per SQL string ({@code SqlRecognizer},
 *       cached) into a {@link SqlPlan};</li>
 *   <li>{@link #execute} runs it: unsupported statements fail before running; INSERT, UPDATE and
 *       DELETE run rewritten to take their images ({@link DmlExecutors}); SELECT ... FOR UPDATE
 *       checks global locks ({@link LockingSelectExecutor}); everything else runs as written;</li>
 *   <li>images become {@link UndoRecord}s and primary keys become lock keys
 *       in the connection's {@link BranchBuffer};</li>
 *   <li>at {@code Connection.commit()} ({@link ConnectionProxy#commit()}): the
 *       branch is registered with the TC, taking the global locks ({@link GlobalLocks}), the undo
 *       log is inserted in the same local transaction, and the local transaction commits.</li>
 * </ol>
 * One shape goes another way after step 2: an autocommit UPDATE that pins the whole integer primary
 * key ({@link KeyPinnedUpdate}) is registered first, then updates, writes its undo log and commits
 * in one statement ({@link ConnectionProxy#execute}).
 * Phase 2 is in {@link BranchPhase2Handler} and
 * {@code LocalBranches}.
 */
final class SqlPath {

    private SqlPath() {
    }

    /** Whether the plan changes or locks rows (and so needs a local transaction around it). */
    static boolean isPassThrough(SqlPlan plan, boolean globalLockOnly) {
        return plan instanceof SqlPlan.PassThrough || (globalLockOnly && plan instanceof SqlPlan.Insert);
    }

    /**
     * Runs {@code plan} for {@code inv}. Returns what the caller sees, or null when the caller's own
     * statement should now run as written (pass-through, or a locking select whose locks are checked).
     */
    static Outcome execute(ExecContext ctx, SqlPlan plan, Invocation inv) throws SQLException {
        if (plan instanceof SqlPlan.Unsupported u) {
            throw new UnsupportedStatementException(u.sql(), u.reason(), u.whatToDo());
        }
        if (isPassThrough(plan, ctx.xid() == null)) {
            return null;
        }
        if (plan instanceof SqlPlan.Update update) {
            return DmlExecutors.update(ctx, update, inv);
        }
        if (plan instanceof SqlPlan.Insert insert) {
            return DmlExecutors.insert(ctx, insert, inv);
        }
        if (plan instanceof SqlPlan.Delete delete) {
            return DmlExecutors.delete(ctx, delete, inv);
        }
        if (plan instanceof SqlPlan.LockingSelect select) {
            LockingSelectExecutor.lock(ctx, select, inv);
            return null;
        }
        throw new IllegalStateException("unknown plan " + plan);
    }
}
