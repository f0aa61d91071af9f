package io.cohort.rm.jdbc;

import io.cohort.rm.UnsupportedStatementException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * INSERT, UPDATE and DELETE inside a global transaction (or under a global lock). Each takes its
 * images with as few round trips as the database allows:
 * <ul>
 *   <li>INSERT: the statement itself {@code RETURNING} every column is the after image (1 statement);</li>
 *   <li>DELETE: the statement {@code RETURNING} every column is the before image (1 statement);</li>
 *   <li>UPDATE: the dialect's one-statement lock + update + images where it has one (PostgreSQL's
 *       UPDATE joined to a locking sub-select, returning both images); with a RETURNING clause of its own, the classic before-image
 *       {@code SELECT ... FOR UPDATE} followed by the UPDATE returning the after image (2 statements).</li>
 * </ul>
 * Databases without RETURNING (MySQL, MariaDB) read the images around the statement instead
 * ({@link AroundExecutors}).
 * When the application wants rows back (its own RETURNING, or generated keys) the statement runs
 * scrollable, the images are read from the columns appended after the caller's, and the result
 * is rewound and handed over.
 */
final class DmlExecutors {

    private DmlExecutors() {
    }

    static Outcome insert(ExecContext ctx, SqlPlan.Insert plan, Invocation inv) throws SQLException {
        TableMeta meta = requireKey(ctx, plan.table(), plan.sql());
        if (!ctx.resource().dialect().hasReturning()) {
            return AroundExecutors.insert(ctx, plan, inv, meta);
        }
        boolean callerWantsRows = plan.hasReturning() || inv.generatedKeys();
        String sql = ctx.resource().rewritten("I" + (inv.generatedKeys() ? java.util.Arrays.toString(inv.keyColumns()) : "")
                + ":" + plan.sql(), () -> ctx.resource().dialect()
                .withReturning(plan.sql(), plan.hasReturning(), inv.generatedKeys() ? inv.keyColumns() : null, meta));
        Returned returned = runReturning(ctx, sql, inv, ExecContext.range(1, ParamCounter.count(plan.sql())), meta,
                callerWantsRows);
        List<String[]> after = returned.images();
        ResultSet callerRows = returned.callerRows();
        if (!after.isEmpty()) {
            ctx.lock(meta, after);
            if (ctx.xid() != null) {
                ctx.buffer().add(record(UndoRecord.Op.INSERT, meta, List.of(), after));
            }
        }
        return new Outcome(after.size(), plan.hasReturning() ? callerRows : null,
                plan.hasReturning() ? null : callerRows);
    }

    static Outcome delete(ExecContext ctx, SqlPlan.Delete plan, Invocation inv) throws SQLException {
        TableMeta meta = requireKey(ctx, plan.table(), plan.sql());
        if (!ctx.resource().dialect().hasReturning()) {
            return AroundExecutors.delete(ctx, plan, inv, meta);
        }
        String sql = ctx.resource().rewritten("D:" + plan.sql(),
                () -> ctx.resource().dialect().withReturning(plan.sql(), plan.hasReturning(), null, meta));
        Returned returned = runReturning(ctx, sql, inv, ExecContext.range(1, plan.whereParams()), meta,
                plan.hasReturning());
        List<String[]> before = returned.images();
        if (!before.isEmpty()) {
            ctx.lock(meta, before);
            if (ctx.xid() != null) {
                ctx.buffer().add(record(UndoRecord.Op.DELETE, meta, before, List.of()));
            }
        }
        return new Outcome(before.size(), returned.callerRows(), null);
    }

    /** The primary-key column the UPDATE's SET list assigns (unquoted), or null when it leaves the key alone. */
    static String changedKeyColumn(SqlPlan.Update plan, TableMeta meta) {
        for (String column : plan.setColumns()) {
            String name = column.length() > 1 && (column.startsWith("\"") || column.startsWith("`"))
                    ? column.substring(1, column.length() - 1) : column;
            if (meta.isPrimaryKey(name)) {
                return name;
            }
        }
        return null;
    }

    static Outcome update(ExecContext ctx, SqlPlan.Update plan, Invocation inv) throws SQLException {
        TableMeta meta = requireKey(ctx, plan.table(), plan.sql());
        String changedKey = changedKeyColumn(plan, meta);
        if (changedKey != null) {
            throw new UnsupportedStatementException(plan.sql(), "it changes primary-key column " + changedKey
                    + " of " + meta.lockName() + ", and rows are undone and locked by primary key",
                    "Delete the row and insert a new one instead.");
        }
        if (!ctx.resource().dialect().hasReturning()) {
            return AroundExecutors.update(ctx, plan, inv, meta);
        }
        String oneStatement = plan.hasReturning() ? null : ctx.resource().rewritten("U:" + plan.sql(),
                () -> ctx.resource().dialect().updateWithImages(plan, meta));
        List<String[]> before = new ArrayList<>();
        List<String[]> after = new ArrayList<>();
        ResultSet callerRows = null;
        if (oneStatement != null) {
            try (PreparedStatement ps = ctx.raw().prepareStatement(oneStatement)) {
                ExecContext.bind(ps, inv.params(), ExecContext.range(1, plan.setParams() + plan.whereParams()));
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        before.add(ExecContext.row(rs, meta, 0));
                        after.add(ExecContext.row(rs, meta, meta.columns().size()));
                    }
                }
            }
        } else {
            String select = ctx.resource().rewritten("B:" + plan.sql(),
                    () -> ctx.resource().dialect().selectForUpdate(plan.tableClause(), plan.where(), meta));
            try (PreparedStatement ps = ctx.raw().prepareStatement(select)) {
                ExecContext.bind(ps, inv.params(), ExecContext.range(plan.setParams() + 1, plan.whereParams()));
                try (ResultSet rs = ps.executeQuery()) {
                    before = ExecContext.rows(rs, meta, 0);
                }
            }
            String sql = ctx.resource().rewritten("R:" + plan.sql(),
                    () -> ctx.resource().dialect().withReturning(plan.sql(), true, null, meta));
            Returned returned = runReturning(ctx, sql, inv,
                    ExecContext.range(1, plan.setParams() + plan.whereParams()), meta, true);
            after = returned.images();
            callerRows = returned.callerRows();
        }
        if (!after.isEmpty()) {
            ctx.lock(meta, after);
            if (ctx.xid() != null) {
                ctx.buffer().add(record(UndoRecord.Op.UPDATE, meta, before, after));
            }
        }
        return new Outcome(after.size(), callerRows, null);
    }

    /** The images a statement returned after the caller's own columns, and its rows for the caller (or null). */
    private record Returned(List<String[]> images, ResultSet callerRows) {
    }

    /**
     * Runs {@code sql}, the statement with every column of the table appended to what it returns,
     * binding the application's parameters at {@code mapping}. When the caller wants rows the result
     * is scrollable, and is handed over rewound, closing its statement when it closes.
     */
    private static Returned runReturning(ExecContext ctx, String sql, Invocation inv, int[] mapping, TableMeta meta,
                                         boolean callerWantsRows) throws SQLException {
        ResultSet callerRows = null;
        PreparedStatement ps = callerWantsRows
                ? ctx.raw().prepareStatement(sql, ResultSet.TYPE_SCROLL_INSENSITIVE, ResultSet.CONCUR_READ_ONLY)
                : ctx.raw().prepareStatement(sql);
        try {
            ExecContext.bind(ps, inv.params(), mapping);
            ResultSet rs = ps.executeQuery();
            List<String[]> images = ExecContext.rows(rs, meta, rs.getMetaData().getColumnCount() - meta.columns().size());
            if (callerWantsRows) {
                rs.beforeFirst();
                callerRows = rs;
                ps.closeOnCompletion();
            }
            return new Returned(images, callerRows);
        } finally {
            if (callerRows == null) {
                ps.close();
            }
        }
    }

    /**
     * The table, if the RM can make the statement safe: it has a primary key, and inside a global
     * transaction every column's type can be restored exactly from its image (under a global lock
     * only the keys are used).
     */
    static TableMeta requireKey(ExecContext ctx, String table, String sql) throws SQLException {
        TableMeta meta = ctx.meta(table);
        if (meta.primaryKey().isEmpty()) {
            throw new UnsupportedStatementException(sql, "table " + meta.lockName()
                    + " has no primary key, and AT mode locks and undoes rows by primary key",
                    "Add a primary key to the table.");
        }
        if (ctx.xid() == null) {
            refuseUnrestorableKeys(meta, sql);
        } else if (!meta.unrestorable().isEmpty()) {
            StringJoiner columns = new StringJoiner(", ");
            meta.unrestorable().forEach((column, type) -> columns.add("column " + column + " of " + meta.lockName()
                    + " has type " + type));
            throw new UnsupportedStatementException(sql, columns + ", which the RM cannot restore exactly from an"
                    + " undo log", "Use a supported type (the README lists them; numeric instead of money), or change"
                    + " the table outside global transactions.");
        }
        return meta;
    }

    /** Lock keys are the keys' text: a key type without one exact text cannot be locked reliably. */
    static void refuseUnrestorableKeys(TableMeta meta, String sql) throws SQLException {
        for (String k : meta.primaryKey()) {
            String type = meta.unrestorable().get(k);
            if (type != null) {
                throw new UnsupportedStatementException(sql, "primary-key column " + k + " of " + meta.lockName()
                        + " has type " + type + ", whose text (the global lock key) the RM cannot rely on",
                        "Use a supported key type (the README lists them).");
            }
        }
    }

    static UndoRecord record(UndoRecord.Op op, TableMeta meta, List<String[]> before, List<String[]> after) {
        return new UndoRecord(op, meta.schema(), meta.name(), meta.columns(), meta.primaryKey(), before, after);
    }
}
