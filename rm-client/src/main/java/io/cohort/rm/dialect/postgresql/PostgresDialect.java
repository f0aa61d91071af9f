package io.cohort.rm.dialect.postgresql;

import io.cohort.rm.dialect.Dialect;
import io.cohort.rm.image.ColumnMeta;
import io.cohort.rm.image.TableMeta;
import io.cohort.rm.sql.SqlPlan;
import java.sql.Connection;
import java.sql.JDBCType;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * PostgreSQL: catalog lookups, the one-statement UPDATE with before and after images (a
 * data-modifying CTE), RETURNING for INSERT and DELETE, and the undo-log SQL.
 */
public final class PostgresDialect implements Dialect {

    private static final String COLUMNS_SQL = """
            SELECT n.nspname, c.relname, a.attname, t.typname, t.typcategory, a.attgenerated <> '',
                   (SELECT array_position(i.indkey::int2[], a.attnum) FROM pg_catalog.pg_index i
                     WHERE i.indrelid = c.oid AND i.indisprimary)
              FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
             WHERE c.oid = to_regclass(?)
             ORDER BY a.attnum""";

    @Override
    public TableMeta loadTableMeta(Connection connection, String tableAsWritten) throws SQLException {
        String schema = null;
        String name = null;
        List<ColumnMeta> columns = new ArrayList<>();
        List<Object[]> keys = new ArrayList<>();
        try (PreparedStatement ps = connection.prepareStatement(COLUMNS_SQL)) {
            ps.setString(1, tableAsWritten);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    schema = rs.getString(1);
                    name = rs.getString(2);
                    String column = rs.getString(3);
                    columns.add(new ColumnMeta(column, jdbcType(rs.getString(4), rs.getString(5)), rs.getBoolean(6)));
                    int keyPosition = rs.getInt(7);
                    if (!rs.wasNull()) {
                        keys.add(new Object[] {keyPosition, column});
                    }
                }
            }
        }
        if (name == null) {
            return null;
        }
        keys.sort((a, b) -> Integer.compare((Integer) a[0], (Integer) b[0]));
        List<String> primaryKey = new ArrayList<>();
        for (Object[] k : keys) {
            primaryKey.add((String) k[1]);
        }
        return new TableMeta(schema, name, columns, primaryKey);
    }

    /** Maps a PostgreSQL type to the JDBC type whose {@link io.cohort.rm.image.ValueCodec} rule fits it. */
    static JDBCType jdbcType(String typname, String category) {
        return switch (typname) {
            case "int2" -> JDBCType.SMALLINT;
            case "int4" -> JDBCType.INTEGER;
            case "int8" -> JDBCType.BIGINT;
            case "numeric" -> JDBCType.NUMERIC;
            case "float4" -> JDBCType.REAL;
            case "float8" -> JDBCType.DOUBLE;
            case "bool" -> JDBCType.BOOLEAN;
            case "text", "varchar", "name" -> JDBCType.VARCHAR;
            case "bpchar" -> JDBCType.CHAR;
            case "date" -> JDBCType.DATE;
            case "time" -> JDBCType.TIME;
            case "timestamp" -> JDBCType.TIMESTAMP;
            case "timestamptz" -> JDBCType.TIMESTAMP_WITH_TIMEZONE;
            case "bytea" -> JDBCType.BINARY;
            default -> "A".equals(category) ? JDBCType.ARRAY : JDBCType.OTHER;
        };
    }

    @Override
    public String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    @Override
    public String qualifiedName(String schema, String table) {
        return schema == null ? quote(table) : quote(schema) + "." + quote(table);
    }

    @Override
    public String columnList(TableMeta meta) {
        StringJoiner j = new StringJoiner(", ");
        for (ColumnMeta c : meta.columns()) {
            j.add(quote(c.name()));
        }
        return j.toString();
    }

    private String keyList(TableMeta meta) {
        StringJoiner j = new StringJoiner(", ");
        for (String k : meta.primaryKey()) {
            j.add(quote(k));
        }
        return j.toString();
    }

    /**
     * {@code WITH b AS (SELECT cols FROM t WHERE w FOR UPDATE),
     *  u AS (UPDATE t SET s WHERE (pk) IN (SELECT pk FROM b) RETURNING cols)
     *  SELECT 0, cols FROM b UNION ALL SELECT 1, cols FROM u}.
     * All parts share one snapshot, so b is the before image and u the after image; the UPDATE
     * touches exactly the rows b locked (it can only reach a row after b emitted, hence locked,
     * it). Unqualified names in the sub-select resolve to b, the outer ones to the target table.
     */
    @Override
    public String updateWithImages(SqlPlan.Update plan, TableMeta meta) {
        String cols = columnList(meta);
        String keys = keyList(meta);
        return "WITH cohort_before AS (SELECT " + cols + " FROM " + plan.tableClause()
                + (plan.where() == null ? "" : " WHERE " + plan.where()) + " FOR UPDATE), "
                + "cohort_after AS (UPDATE " + plan.tableClause() + " SET " + plan.setClause()
                + " WHERE (" + keys + ") IN (SELECT " + keys + " FROM cohort_before) RETURNING " + cols + ") "
                + "SELECT 0, " + cols + " FROM cohort_before UNION ALL SELECT 1, " + cols + " FROM cohort_after";
    }

    @Override
    public String selectForUpdate(String tableClause, String where, TableMeta meta) {
        return "SELECT " + columnList(meta) + " FROM " + tableClause + (where == null ? "" : " WHERE " + where)
                + " FOR UPDATE";
    }

    @Override
    public String withReturning(String sql, boolean hasReturning, String[] callerColumns, TableMeta meta) {
        String body = sql.strip();
        while (body.endsWith(";")) {
            body = body.substring(0, body.length() - 1).strip();
        }
        // A newline first, in case the statement ends in a -- comment.
        StringBuilder out = new StringBuilder(body).append('\n');
        if (hasReturning) {
            out.append(", ");
        } else {
            out.append(" RETURNING ");
            if (callerColumns != null) {
                for (String c : callerColumns) {
                    out.append(c).append(", ");
                }
            }
        }
        return out.append(columnList(meta)).toString();
    }

    @Override
    public String selectByKeysForUpdate(TableMeta meta, int rows) {
        return selectByKeys(meta, rows) + " FOR UPDATE";
    }

    @Override
    public String selectByKeys(TableMeta meta, int rows) {
        StringBuilder sb = new StringBuilder("SELECT ").append(columnList(meta)).append(" FROM ")
                .append(qualifiedName(meta.schema(), meta.name())).append(" WHERE (").append(keyList(meta))
                .append(") IN (");
        String tuple = "(" + "?, ".repeat(meta.primaryKey().size() - 1) + "?)";
        for (int i = 0; i < rows; i++) {
            sb.append(i == 0 ? "" : ", ").append(tuple);
        }
        return sb.append(")").toString();
    }

    @Override
    public String restoreInsert(String qualifiedTable, String columnList, int columnCount) {
        return "INSERT INTO " + qualifiedTable + " (" + columnList + ") OVERRIDING SYSTEM VALUE VALUES ("
                + "?, ".repeat(columnCount - 1) + "?)";
    }

    @Override
    public String insertUndo(String undoTable) {
        return "INSERT INTO " + undoTable + " (xid, branch_id, rollback_info, log_status, created) VALUES (?, ?, ?, ?, now())";
    }

    @Override
    public String selectUndoForUpdate(String undoTable) {
        return "SELECT rollback_info, log_status FROM " + undoTable + " WHERE xid = ? AND branch_id = ? FOR UPDATE";
    }

    @Override
    public String insertMarker(String undoTable) {
        return "INSERT INTO " + undoTable + " (xid, branch_id, rollback_info, log_status, created) "
                + "VALUES (?, ?, '\\x'::bytea, 1, now()) ON CONFLICT (xid, branch_id) DO NOTHING";
    }

    @Override
    public String deleteUndo(String undoTable) {
        return "DELETE FROM " + undoTable + " WHERE xid = ? AND branch_id = ?";
    }

    @Override
    public String deleteUndoBatch(String undoTable) {
        return "DELETE FROM " + undoTable + " WHERE (xid, branch_id) IN "
                + "(SELECT * FROM unnest(?::varchar[], ?::bigint[])) AND log_status IN (0, 2, 3)";
    }

    @Override
    public String deleteOldMarkers(String undoTable) {
        return "DELETE FROM " + undoTable + " WHERE log_status = 1 AND created < ?";
    }

    @Override
    public String updateUndoStatus(String undoTable) {
        return "UPDATE " + undoTable + " SET log_status = ?, updated = now() WHERE xid = ? AND branch_id = ?";
    }

    @Override
    public String touchUndo(String undoTable) {
        return "UPDATE " + undoTable + " SET updated = now() WHERE xid = ? AND branch_id = ?";
    }

    @Override
    public String markCommittedAlone(String undoTable) {
        return "UPDATE " + undoTable + " SET log_status = 5, rollback_info = '\\x'::bytea, updated = now() "
                + "WHERE xid = ? AND branch_id = ?";
    }

    @Override
    public String selectQuietThreePhase(String undoTable) {
        return "SELECT xid, branch_id, log_status FROM " + undoTable + " WHERE log_status >= 2 "
                + "AND updated < now() - ? * interval '1 millisecond' ORDER BY updated LIMIT ?";
    }

    @Override
    public String selectDecidedAlone(String undoTable) {
        return "SELECT xid, branch_id FROM " + undoTable + " WHERE log_status IN (4, 5)";
    }

    @Override
    public String insertDecision(String decisionTable) {
        return "INSERT INTO " + decisionTable + " (xid, branch_id, decision, reason, decided_at) VALUES (?, ?, ?, ?, now()) "
                + "ON CONFLICT (xid, branch_id) DO NOTHING";
    }

    @Override
    public String selectDecisionReason(String decisionTable) {
        return "SELECT reason FROM " + decisionTable + " WHERE xid = ? AND branch_id = ?";
    }

    @Override
    public String selectUnreportedDecisions(String decisionTable) {
        return "SELECT xid, branch_id, decision, reason FROM " + decisionTable + " WHERE reported_at IS NULL";
    }

    @Override
    public String markDecisionReported(String decisionTable) {
        return "UPDATE " + decisionTable + " SET reported_at = now() WHERE xid = ? AND branch_id = ? AND reported_at IS NULL";
    }

    @Override
    public String deleteOldDecisions(String decisionTable) {
        return "DELETE FROM " + decisionTable + " WHERE reported_at < ?";
    }

    @Override
    public boolean isUniqueViolation(SQLException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException s && "23505".equals(s.getSQLState())) {
                return true;
            }
        }
        return false;
    }
}
