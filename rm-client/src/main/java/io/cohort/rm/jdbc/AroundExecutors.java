package io.cohort.rm.jdbc;

import io.cohort.rm.UnsupportedStatementException;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * INSERT, UPDATE and DELETE on a database without RETURNING (MySQL, MariaDB): the application's
 * statement runs as written, and the images are read around it in the same local transaction:
 * <ul>
 *   <li>UPDATE and DELETE: the before image by {@code SELECT ... FOR UPDATE} with the statement's own
 *       WHERE (InnoDB locks the rows and the gaps between them, so the statement then matches exactly
 *       those rows); UPDATE's after image by the same primary keys, in batches;</li>
 *   <li>INSERT: the after image by the keys the statement wrote — the keys it gives as literals or
 *       parameters, or the AUTO_INCREMENT values it generated ({@code LAST_INSERT_ID()} and the
 *       increment: one INSERT's values are consecutive).</li>
 * </ul>
 * A statement that touched more rows than its before image holds (rows that appeared between the two
 * statements under READ COMMITTED) fails: the RM could not undo them.
 */
final class AroundExecutors {

    private static final int KEYS_PER_SELECT = 500;
    /** A key the INSERT gives as a constant: a parameter, a number, a string or hex literal. */
    private static final Pattern CONSTANT = Pattern.compile(
            "(?is)\\?|[-+]?[0-9]+(\\.[0-9]*)?(e[-+]?[0-9]+)?|'([^'\\\\]|''|\\\\.)*'|x'[0-9a-f]*'|0x[0-9a-f]+|b'[01]*'");

    private AroundExecutors() {
    }

    static Outcome insert(ExecContext ctx, SqlPlan.Insert plan, Invocation inv, TableMeta meta) throws SQLException {
        refuseReturning(plan.sql(), plan.hasReturning());
        Dialect dialect = ctx.resource().dialect();
        int params = ParamCounter.count(plan.sql());
        KeySource keys = keySource(plan, meta, params);
        if (keys.generated() && plan.rows() == null) {
            try (PreparedStatement ps = ctx.raw().prepareStatement(dialect.generatedKeyRange());
                 ResultSet rs = ps.executeQuery()) {
                rs.next();
                if (!rs.getBoolean(3)) {
                    throw new UnsupportedStatementException(plan.sql(), "with innodb_autoinc_lock_mode = 2 the "
                            + "AUTO_INCREMENT values of an INSERT ... SELECT need not be consecutive, so the RM cannot tell "
                            + "which rows it inserted", "Insert with VALUES, or set innodb_autoinc_lock_mode to 1.");
                }
            }
        }
        long count;
        ResultSet generated = null;
        PreparedStatement ps = !inv.generatedKeys() ? ctx.raw().prepareStatement(plan.sql())
                : inv.keyColumns() != null ? ctx.raw().prepareStatement(plan.sql(), inv.keyColumns())
                : ctx.raw().prepareStatement(plan.sql(), Statement.RETURN_GENERATED_KEYS);
        try {
            ExecContext.bind(ps, inv.params(), ExecContext.range(1, params));
            count = ps.executeLargeUpdate();
            if (inv.generatedKeys()) {
                generated = ps.getGeneratedKeys();
                ps.closeOnCompletion();
            }
        } finally {
            if (generated == null) {
                ps.close();
            }
        }
        List<String[]> after = new ArrayList<>();
        if (count > 0 && keys.generated()) {
            long first;
            long increment;
            try (PreparedStatement range = ctx.raw().prepareStatement(dialect.generatedKeyRange());
                 ResultSet rs = range.executeQuery()) {
                rs.next();
                first = rs.getLong(1);
                increment = rs.getLong(2);
            }
            int pk = meta.primaryKeyIndexes()[0];
            List<String[]> keyRows = new ArrayList<>();
            for (long i = 0; i < count; i++) {
                String[] row = new String[meta.columns().size()];
                row[pk] = Long.toUnsignedString(first + i * increment);
                keyRows.add(row);
            }
            after = rowsByKeys(ctx, meta, keyRows);
        } else if (count > 0) {
            try (PreparedStatement select = ctx.raw().prepareStatement(
                    dialect.selectByKeyExpressions(meta, keys.expressions()))) {
                ExecContext.bind(select, inv.params(), keys.params());
                try (ResultSet rs = select.executeQuery()) {
                    after = ExecContext.rows(rs, meta, 0);
                }
            }
        }
        if (after.size() != count) {
            throw new SQLException("The INSERT wrote " + count + " row(s) of " + meta.lockName() + " but the RM found "
                    + after.size() + " by their primary keys, so it cannot undo them; the local transaction must roll "
                    + "back (a NULL or 0 bound for an AUTO_INCREMENT key? leave the column out instead)", "40000");
        }
        if (!after.isEmpty()) {
            ctx.lock(meta, after);
            if (ctx.xid() != null) {
                ctx.buffer().add(DmlExecutors.record(UndoRecord.Op.INSERT, meta, List.of(), after));
            }
        }
        return new Outcome(count, null, generated);
    }

    static Outcome update(ExecContext ctx, SqlPlan.Update plan, Invocation inv, TableMeta meta) throws SQLException {
        refuseReturning(plan.sql(), plan.hasReturning());
        List<String[]> before = before(ctx, plan.sql(), plan.tableClause(), plan.where(), meta, inv,
                ExecContext.range(plan.setParams() + 1, plan.whereParams()));
        long count = run(ctx, plan.sql(), inv, plan.setParams() + plan.whereParams(), before.size(), meta);
        List<String[]> after = before.isEmpty() ? List.of() : rowsByKeys(ctx, meta, before);
        if (!after.isEmpty()) {
            ctx.lock(meta, after);
            if (ctx.xid() != null) {
                ctx.buffer().add(DmlExecutors.record(UndoRecord.Op.UPDATE, meta, before, after));
            }
        }
        return new Outcome(count, null, null);
    }

    static Outcome delete(ExecContext ctx, SqlPlan.Delete plan, Invocation inv, TableMeta meta) throws SQLException {
        refuseReturning(plan.sql(), plan.hasReturning());
        List<String[]> before = before(ctx, plan.sql(), plan.tableClause(), plan.where(), meta, inv,
                ExecContext.range(1, plan.whereParams()));
        long count = run(ctx, plan.sql(), inv, plan.whereParams(), before.size(), meta);
        if (!before.isEmpty()) {
            ctx.lock(meta, before);
            if (ctx.xid() != null) {
                ctx.buffer().add(DmlExecutors.record(UndoRecord.Op.DELETE, meta, before, List.of()));
            }
        }
        return new Outcome(count, null, null);
    }

    private static void refuseReturning(String sql, boolean hasReturning) throws SQLException {
        if (hasReturning) {
            throw new UnsupportedStatementException(sql, "RETURNING on MySQL/MariaDB: the RM reads the images around "
                    + "the statement and does not hand its rows on", "Select the rows after the statement.");
        }
    }

    private static List<String[]> before(ExecContext ctx, String sql, String tableClause, String where, TableMeta meta,
                                         Invocation inv, int[] whereParams) throws SQLException {
        String select = ctx.resource().rewritten("B:" + sql,
                () -> ctx.resource().dialect().selectForUpdate(tableClause, where, meta));
        try (PreparedStatement ps = ctx.raw().prepareStatement(select)) {
            ExecContext.bind(ps, inv.params(), whereParams);
            try (ResultSet rs = ps.executeQuery()) {
                return ExecContext.rows(rs, meta, 0);
            }
        }
    }

    /** The application's statement as written; fails when it touched rows the before image does not hold. */
    private static long run(ExecContext ctx, String sql, Invocation inv, int params, int imaged, TableMeta meta)
            throws SQLException {
        long count;
        try (PreparedStatement ps = ctx.raw().prepareStatement(sql)) {
            ExecContext.bind(ps, inv.params(), ExecContext.range(1, params));
            count = ps.executeLargeUpdate();
        }
        if (count > imaged) {
            throw new SQLException("The statement changed " + count + " row(s) of " + meta.lockName() + " but only "
                    + imaged + " were locked for its before image (rows appeared in between: READ COMMITTED?), so the "
                    + "RM cannot undo them; the local transaction must roll back", "40001");
        }
        return count;
    }

    /** The current rows with the primary keys of {@code keyRows} (image rows; only key columns are read), locked. */
    private static List<String[]> rowsByKeys(ExecContext ctx, TableMeta meta, List<String[]> keyRows)
            throws SQLException {
        Dialect dialect = ctx.resource().dialect();
        int[] pk = meta.primaryKeyIndexes();
        List<String[]> out = new ArrayList<>(keyRows.size());
        for (int from = 0; from < keyRows.size(); from += KEYS_PER_SELECT) {
            List<String[]> chunk = keyRows.subList(from, Math.min(keyRows.size(), from + KEYS_PER_SELECT));
            try (PreparedStatement ps = ctx.raw().prepareStatement(dialect.selectByKeys(meta, chunk.size(), true))) {
                int p = 1;
                for (String[] row : chunk) {
                    for (int k : pk) {
                        dialect.bindImage(ps, p++, row[k]);
                    }
                }
                try (ResultSet rs = ps.executeQuery()) {
                    out.addAll(ExecContext.rows(rs, meta, 1));
                }
            }
        }
        return out;
    }

    /**
     * How the INSERT's rows are found again: by the key expressions it gives (with the indexes of
     * their parameters), or by the AUTO_INCREMENT values it generates.
     */
    private record KeySource(List<String[]> expressions, int[] params) {
        boolean generated() {
            return expressions == null;
        }
    }

    private static KeySource keySource(SqlPlan.Insert plan, TableMeta meta, int params) throws SQLException {
        List<String> columns = new ArrayList<>();
        if (plan.columns() == null) {
            for (ColumnMeta c : meta.columns()) {
                columns.add(c.name());
            }
        } else {
            for (String c : plan.columns()) {
                columns.add(c.length() > 1 && (c.startsWith("`") || c.startsWith("\"")) ? c.substring(1, c.length() - 1) : c);
            }
        }
        List<Integer> keyPositions = new ArrayList<>();
        for (String k : meta.primaryKey()) {
            int at = -1;
            for (int i = 0; i < columns.size(); i++) {
                if (columns.get(i).equalsIgnoreCase(k)) {
                    at = i;
                }
            }
            keyPositions.add(at);
        }
        if (keyPositions.stream().allMatch(p -> p < 0) && meta.primaryKey().size() == 1
                && meta.primaryKey().get(0).equalsIgnoreCase(String.valueOf(meta.autoIncrement()))) {
            return new KeySource(null, null);
        }
        String why = null;
        if (keyPositions.contains(-1)) {
            why = "it does not give every primary-key column of " + meta.lockName();
        } else if (plan.rows() == null) {
            why = "its rows come from a SELECT";
        }
        List<String[]> expressions = new ArrayList<>();
        List<Integer> keyParams = new ArrayList<>();
        int param = 1;
        for (int r = 0; why == null && r < plan.rows().size(); r++) {
            List<String> row = plan.rows().get(r);
            if (row.size() != columns.size()) {
                why = "row " + (r + 1) + " has " + row.size() + " values for " + columns.size() + " columns";
                break;
            }
            String[] keys = new String[keyPositions.size()];
            for (int i = 0; i < row.size(); i++) {
                String value = row.get(i).strip();
                int n = ParamCounter.count(value);
                int k = keyPositions.indexOf(i);
                if (k >= 0) {
                    if (!CONSTANT.matcher(value).matches()) {
                        why = "primary-key column " + columns.get(i) + " gets " + value + ", not a literal or parameter";
                        break;
                    }
                    keys[k] = value;
                    for (int j = 0; j < n; j++) {
                        keyParams.add(param + j);
                    }
                }
                param += n;
            }
            expressions.add(keys);
        }
        if (why == null && param - 1 != params) {
            why = "it has parameters outside its VALUES";
        }
        if (why != null) {
            throw new UnsupportedStatementException(plan.sql(), "the RM cannot tell which rows this INSERT writes: "
                    + why, "Give the primary key as literals or parameters in VALUES, or leave an AUTO_INCREMENT key "
                    + "out of the column list.");
        }
        return new KeySource(expressions, keyParams.stream().mapToInt(Integer::intValue).toArray());
    }
}
