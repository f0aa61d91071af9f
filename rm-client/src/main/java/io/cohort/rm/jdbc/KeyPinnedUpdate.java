package io.cohort.rm.jdbc;

import io.cohort.protocol.LockKeys;
import java.sql.Connection;
import java.sql.JDBCType;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.Set;

/**
 * The one-round-trip branch ({@code cohort.rm.key-pinned-autocommit-updates}): an autocommit UPDATE in
 * a global transaction whose WHERE pins the whole primary key by equality, AND-ed with anything else,
 * to parameters bound as Java integers or to integer literals, on integer key columns. Its row's lock
 * key is known before it runs, so the branch is registered first (taking the global lock) and then
 * one statement updates the row, inserts the undo log formed in SQL from both images and commits
 * (autocommit): one round trip where the usual branch takes two.
 *
 * <p>The lock key must be byte for byte the one the usual path forms from the row's {@code key::text},
 * or two transactions writing the row by the two paths would not conflict: the text of a Java
 * {@code long} and of a canonical integer literal is what PostgreSQL writes for the integer it equals,
 * and the statement's rows are checked against it. Anything else — other key types, a key bound as
 * text or a decimal, a statement of its own RETURNING, explicit transactions, databases without a
 * {@link Dialect#updateWritingUndoLog} — takes the usual path.
 */
final class KeyPinnedUpdate {

    private static final Set<JDBCType> INTEGER_KEYS = Set.of(JDBCType.SMALLINT, JDBCType.INTEGER, JDBCType.BIGINT);

    /**
     * A statement that can take the one-round-trip branch.
     *
     * @param sql      {@link Dialect#updateWritingUndoLog} for it
     * @param lockRow  the row token ({@link LockKeys#row}) of the key it pins
     * @param lockKeys the branch's lock keys
     * @param tables   the branch's application data ({@link BranchData})
     */
    record Pinned(SqlPlan.Update plan, TableMeta meta, String sql, String lockRow, List<String> lockKeys,
                  byte[] tables) {
    }

    private KeyPinnedUpdate() {
    }

    /** The statement's one-round-trip form, or null when it must take the usual path. */
    static Pinned pin(ExecContext ctx, SqlPlan.Update plan, Invocation inv) throws SQLException {
        if (plan.keyPins().isEmpty() || plan.hasReturning() || inv.generatedKeys()) {
            return null;
        }
        TableMeta meta = DmlExecutors.requireKey(ctx, plan.table(), plan.sql());
        if (DmlExecutors.changedKeyColumn(plan, meta) != null) {
            return null; // refused by the usual path, with its reason
        }
        String[] keyValues = new String[meta.primaryKey().size()];
        for (int k = 0; k < keyValues.length; k++) {
            String key = meta.primaryKey().get(k);
            if (!INTEGER_KEYS.contains(meta.columns().get(meta.primaryKeyIndexes()[k]).type())) {
                return null;
            }
            for (SqlPlan.KeyPin pin : plan.keyPins()) {
                if (pin.column().equals(key)) {
                    if (keyValues[k] != null) {
                        return null; // pinned twice: leave it to the usual path
                    }
                    keyValues[k] = pin.literal() != null ? pin.literal()
                            : inv.params() == null ? null : inv.params().integerText(pin.paramIndex());
                    if (keyValues[k] == null) {
                        return null;
                    }
                }
            }
            if (keyValues[k] == null) {
                return null;
            }
        }
        Resource resource = ctx.resource();
        String sql = resource.rewritten("K:" + plan.sql(), () -> {
            String s = resource.dialect().updateWritingUndoLog(plan, meta, UndoCodec.updateLogPieces(meta),
                    resource.undoLog());
            return s == null ? "" : s;
        });
        if (sql.isEmpty()) {
            return null;
        }
        String lockRow = LockKeys.row(keyValues);
        return new Pinned(plan, meta, sql, lockRow, List.of(LockKeys.of(meta.lockName(), List.of(lockRow))),
                BranchData.tables(List.of(DmlExecutors.record(UndoRecord.Op.UPDATE, meta, List.of(), List.of()))));
    }

    /**
     * Runs the statement on {@code raw} (in autocommit: it commits itself) for the registered branch:
     * the row updated, its undo log inserted as {@code status}. Returns the number of rows updated.
     *
     * @throws IllegalStateException when a row it updated has another key than the one locked (it
     *         cannot, by {@link #pin}'s rules; the caller must then roll the global transaction back)
     */
    static int run(Connection raw, Pinned pinned, ParamLog params, String xid, long branchId, UndoLogStatus status)
            throws SQLException {
        SqlPlan.Update plan = pinned.plan();
        int updateParams = plan.setParams() + plan.whereParams();
        int rows = 0;
        try (PreparedStatement ps = raw.prepareStatement(pinned.sql())) {
            ExecContext.bind(ps, params, ExecContext.range(1, updateParams));
            ps.setString(updateParams + 1, xid);
            ps.setLong(updateParams + 2, branchId);
            ps.setInt(updateParams + 3, status.code());
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String[] key = new String[pinned.meta().primaryKey().size()];
                    for (int k = 0; k < key.length; k++) {
                        key[k] = rs.getString(k + 1);
                    }
                    if (!LockKeys.row(key).equals(pinned.lockRow())) {
                        throw new IllegalStateException("the statement updated row " + LockKeys.row(key) + " of "
                                + pinned.meta().lockName() + " under the global lock of row " + pinned.lockRow());
                    }
                    rows++;
                }
            }
        }
        return rows;
    }
}
