package io.cohort.rm.jdbc;

import io.cohort.protocol.LockKeys;
import io.cohort.rm.UnsupportedStatementException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * SELECT ... FOR UPDATE inside a global transaction or under a global lock: locks the rows locally
 * while selecting their primary keys (the same statement with only the key columns), then waits
 * until no other global transaction holds them. The application's own statement then runs as
 * written and finds the rows already locked.
 */
final class LockingSelectExecutor {

    private LockingSelectExecutor() {
    }

    static void lock(ExecContext ctx, SqlPlan.LockingSelect plan, Invocation inv) throws SQLException {
        TableMeta meta = ctx.meta(plan.table());
        if (meta.primaryKey().isEmpty()) {
            throw new UnsupportedStatementException(plan.sql(), "table " + meta.lockName()
                    + " has no primary key, and global locks are taken by primary key", "Add a primary key to the table.");
        }
        DmlExecutors.refuseUnrestorableKeys(meta, plan.sql());
        // The keys as images read them, so that lock keys are the same text as the ones writes take.
        String sql = ctx.resource().rewritten("L:" + plan.sql(), () -> plan.keySelect()
                .replace(SqlPlan.PK_PLACEHOLDER, ctx.resource().dialect().keyImageList(meta)));
        int total = ParamCounter.count(plan.sql());
        int[] pk = meta.primaryKeyIndexes();
        List<String> keys = new ArrayList<>();
        try (PreparedStatement ps = ctx.raw().prepareStatement(sql)) {
            ExecContext.bind(ps, inv.params(), ExecContext.range(plan.leadingParams() + 1, total - plan.leadingParams()));
            try (ResultSet rs = ps.executeQuery()) {
                String[] row = new String[meta.columns().size()];
                while (rs.next()) {
                    for (int i = 0; i < pk.length; i++) {
                        row[pk[i]] = ValueCodec.read(rs, i + 1);
                    }
                    keys.add(meta.lockRow(row));
                }
            }
        }
        if (keys.isEmpty()) {
            return;
        }
        String lockKey = LockKeys.of(meta.lockName(), keys);
        GlobalLocks.awaitFree(ctx.resource(), ctx.xid(), List.of(lockKey));
    }
}
