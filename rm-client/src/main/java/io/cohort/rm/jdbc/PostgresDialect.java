package io.cohort.rm.jdbc;

import java.sql.Connection;
import java.sql.JDBCType;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * PostgreSQL: catalog lookups, the one-statement UPDATE with before and after images (an UPDATE
 * joined to a locking sub-select), RETURNING for INSERT and DELETE, and the undo-log SQL.
 */
final class PostgresDialect implements Dialect {

    private static final String COLUMNS_SQL = """
            SELECT n.nspname, c.relname, a.attname, t.typcategory, a.attgenerated <> '',
                   (SELECT array_position(i.indkey::int2[], a.attnum) FROM pg_catalog.pg_index i
                     WHERE i.indrelid = c.oid AND i.indisprimary),
                   pg_catalog.format_type(a.atttypid, a.atttypmod),
                   (WITH RECURSIVE d(typtype, typbasetype, typname) AS (
                        SELECT t.typtype, t.typbasetype, t.typname
                        UNION ALL
                        SELECT b.typtype, b.typbasetype, b.typname FROM d JOIN pg_catalog.pg_type b ON b.oid = d.typbasetype
                         WHERE d.typtype = 'd')
                    SELECT d.typname FROM d WHERE d.typtype <> 'd')
              FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
             WHERE c.oid = to_regclass(?)
             ORDER BY a.attnum""";

    /**
     * The built-in base types whose text form the server parses back to the identical value in any
     * session. Left out, for example: {@code money} (its text follows the session's lc_monetary)
     * and types from extensions, whose text forms the RM knows nothing about.
     */
    private static final String EXACT_TEXT_TYPES = "'int2', 'int4', 'int8', 'numeric', 'float4', 'float8', 'bool',"
            + " 'text', 'varchar', 'bpchar', 'char', 'bytea', 'date', 'time', 'timetz', 'timestamp',"
            + " 'timestamptz', 'interval', 'uuid', 'json', 'jsonb', 'xml', 'inet', 'cidr', 'macaddr', 'macaddr8',"
            + " 'bit', 'varbit', 'point', 'tsvector'";

    /**
     * Per column, the base types inside its type that are not in {@link #EXACT_TEXT_TYPES}: the type
     * is unfolded through domains, array elements, range and multirange subtypes and composite
     * fields; enums are leaves the RM supports.
     */
    private static final String UNRESTORABLE_SQL = """
            WITH RECURSIVE part(col, oid) AS (
                SELECT a.attname, a.atttypid FROM pg_catalog.pg_attribute a
                 WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped
                UNION
                SELECT p.col, x.child FROM part p JOIN pg_catalog.pg_type t ON t.oid = p.oid
                 CROSS JOIN LATERAL (
                    SELECT t.typbasetype WHERE t.typtype = 'd'
                    UNION ALL SELECT t.typelem WHERE t.typcategory = 'A' AND t.typelem <> 0
                    UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid
                    UNION ALL SELECT r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid = t.oid
                    UNION ALL SELECT f.atttypid FROM pg_catalog.pg_attribute f
                     WHERE t.typtype = 'c' AND f.attrelid = t.typrelid AND f.attnum > 0 AND NOT f.attisdropped
                 ) x(child))
            SELECT p.col, string_agg(DISTINCT pg_catalog.format_type(t.oid, NULL), ', ')
              FROM part p JOIN pg_catalog.pg_type t ON t.oid = p.oid
              JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
             WHERE t.typtype = 'b' AND t.typcategory <> 'A'
               AND NOT (n.nspname = 'pg_catalog' AND t.typname IN (%s))
             GROUP BY p.col""".formatted(EXACT_TEXT_TYPES);

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
                    columns.add(new ColumnMeta(column, jdbcType(rs.getString(8), rs.getString(4)), rs.getString(7),
                            rs.getBoolean(5)));
                    int keyPosition = rs.getInt(6);
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
        Map<String, String> unrestorable = new LinkedHashMap<>();
        try (PreparedStatement ps = connection.prepareStatement(UNRESTORABLE_SQL)) {
            ps.setString(1, tableAsWritten);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    unrestorable.put(rs.getString(1), rs.getString(2));
                }
            }
        }
        Map<String, String> inCatalogOrder = new LinkedHashMap<>();
        for (ColumnMeta c : columns) {
            if (unrestorable.containsKey(c.name())) {
                inCatalogOrder.put(c.name(), unrestorable.get(c.name()));
            }
        }
        return new TableMeta(schema, name, columns, primaryKey, inCatalogOrder);
    }

    /**
     * Maps a PostgreSQL base type (a domain's underlying type) to a JDBC type. Only
     * {@link #imageColumn} reads it: every value is text, and two kinds get a session-independent form.
     */
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

    /**
     * A column as its image reads it: the server's text for the value, so the driver's result format
     * does not matter. timestamptz is written in UTC and bytea in hex whatever the session's TimeZone
     * and bytea_output, so that a key's lock-key text is the same on every connection.
     */
    @Override
    public String imageColumn(ColumnMeta column, String qualifier) {
        String q = (qualifier == null ? "" : qualifier + ".") + quote(column.name());
        String text = switch (column.type()) {
            case TIMESTAMP_WITH_TIMEZONE ->
                    "CASE WHEN isfinite(" + q + ") THEN ((" + q + " AT TIME ZONE 'UTC')::text || '+00') ELSE " + q + "::text END";
            case BINARY -> "(E'\\\\x' || encode(" + q + ", 'hex'))";
            default -> q + "::text";
        };
        return text + " AS " + quote(column.name());
    }

    @Override
    public String quote(String identifier) {
        return '"' + identifier.replace("\"", "\"\"") + '"';
    }

    private String keyList(TableMeta meta) {
        StringJoiner j = new StringJoiner(", ");
        for (String k : meta.primaryKey()) {
            j.add(quote(k));
        }
        return j.toString();
    }

    /**
     * {@code UPDATE t SET s FROM (SELECT cols FROM t WHERE w FOR UPDATE) AS cohort_before(cohort_c0, ...)
     * WHERE (pk) = (cohort_before.cohort_ck, ...) RETURNING <before image from cohort_before>, <after image>}:
     * one row per updated row, its before image then its after image. The sub-select locks the rows
     * the application's WHERE matches and reads them as locked (a row another transaction changed
     * meanwhile is read again, as it now is, and must still match); the UPDATE joins exactly those
     * rows by primary key, so it changes exactly the rows whose before image it returns, each once.
     * The sub-select's columns are renamed so that unqualified names in the SET list and RETURNING
     * resolve to the target table alone. Parameters stay in the statement's order (SET, then WHERE).
     * Measured against the data-modifying CTE it replaces ({@code WITH b AS (... FOR UPDATE), u AS
     * (UPDATE ... WHERE pk IN (SELECT pk FROM b) RETURNING ...) SELECT ... UNION ALL ...}), it costs
     * the server less per statement (README, "The RM's SQL path").
     */
    @Override
    public String updateWithImages(SqlPlan.Update plan, TableMeta meta) {
        List<ColumnMeta> columns = meta.columns();
        StringJoiner renamed = new StringJoiner(", ", "(", ")");
        List<ColumnMeta> before = new ArrayList<>(columns.size());
        for (int i = 0; i < columns.size(); i++) {
            ColumnMeta c = columns.get(i);
            renamed.add("cohort_c" + i);
            before.add(new ColumnMeta("cohort_c" + i, c.type(), c.sqlType(), c.generated()));
        }
        StringJoiner lockedKeys = new StringJoiner(", ", "(", ")");
        for (int k : meta.primaryKeyIndexes()) {
            lockedKeys.add("cohort_before.cohort_c" + k);
        }
        return "UPDATE " + plan.tableClause() + " SET " + plan.setClause() + " FROM (SELECT " + columnList(meta)
                + " FROM " + plan.tableClause() + (plan.where() == null ? "" : " WHERE " + plan.where())
                + " FOR UPDATE) AS cohort_before" + renamed + " WHERE (" + keyList(meta) + ") = " + lockedKeys
                + " RETURNING " + imageList(before, "cohort_before") + ", " + imageList(meta);
    }

    /**
     * {@code WITH cohort_u(cohort_b0, ..., cohort_a0, ...) AS (<updateWithImages>), cohort_undo AS
     * (INSERT INTO undo_log ... SELECT ?, ?, convert_to(<log>, 'UTF8'), ?, ... FROM cohort_u) SELECT
     * <keys> FROM cohort_u}: the undo log is the JSON {@link UndoCodec#encodeJson} writes, its image values
     * as {@code json_build_array} escapes them (every text is a JSON string, NULL is null; Jackson reads
     * both back to the same text); a statement that updates no row writes an empty log. Null for a
     * table of more than 100 columns ({@code json_build_array}'s argument limit).
     */
    @Override
    public String updateWritingUndoLog(SqlPlan.Update plan, TableMeta meta, UndoCodec.UpdateLogPieces pieces,
                                       UndoLogTable undoLog) {
        int n = meta.columns().size();
        if (n > 100) {
            return null;
        }
        StringJoiner names = new StringJoiner(", ", "(", ")");
        StringJoiner before = new StringJoiner(", ");
        StringJoiner after = new StringJoiner(", ");
        for (int i = 0; i < n; i++) {
            before.add("cohort_b" + i);
            after.add("cohort_a" + i);
        }
        names.add(before.toString()).add(after.toString());
        StringJoiner keys = new StringJoiner(", ");
        for (int k : meta.primaryKeyIndexes()) {
            keys.add("cohort_a" + k);
        }
        String log = "COALESCE(" + literal(pieces.prefix()) + " || string_agg(json_build_array(" + before
                + ")::text, ',') || " + literal(pieces.middle()) + " || string_agg(json_build_array(" + after
                + ")::text, ',') || " + literal(pieces.suffix()) + ", " + literal(pieces.empty()) + ")";
        return "WITH cohort_u" + names + " AS (" + updateWithImages(plan, meta) + "), cohort_undo AS ("
                + undoLog.insertFormedFrom("convert_to(" + log + ", 'UTF8')", "cohort_u") + ") SELECT " + keys
                + " FROM cohort_u";
    }

    /** A string constant that reads the same whatever {@code standard_conforming_strings} is. */
    private static String literal(String text) {
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'";
    }

    @Override
    public String selectForUpdate(String tableClause, String where, TableMeta meta) {
        return "SELECT " + imageList(meta) + " FROM " + tableClause + (where == null ? "" : " WHERE " + where)
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
        return out.append(imageList(meta)).toString();
    }

    /**
     * {@code SELECT k.cohort_row, <images> FROM t cohort_t JOIN (VALUES (1, CAST(? AS type), ...), ...)
     * AS k(cohort_row, cohort_k1, ...) ON cohort_t.pk1 = k.cohort_k1 AND ... [FOR UPDATE OF cohort_t]}:
     * rows are matched to the images by the server's equality of key values, not by their texts.
     */
    @Override
    public String selectByKeys(TableMeta meta, int rows, boolean lock) {
        int[] pk = meta.primaryKeyIndexes();
        StringBuilder tuple = new StringBuilder();
        StringJoiner names = new StringJoiner(", ", "(cohort_row, ", ")");
        StringJoiner on = new StringJoiner(" AND ");
        for (int i = 0; i < pk.length; i++) {
            ColumnMeta k = meta.columns().get(pk[i]);
            tuple.append(", CAST(? AS ").append(k.sqlType()).append(')');
            names.add("cohort_k" + i);
            on.add("cohort_t." + quote(k.name()) + " = k.cohort_k" + i);
        }
        StringBuilder sb = new StringBuilder("SELECT k.cohort_row, ").append(imageList(meta.columns(), "cohort_t"))
                .append(" FROM ").append(qualifiedName(meta.schema(), meta.name())).append(" cohort_t JOIN (VALUES ");
        for (int r = 1; r <= rows; r++) {
            sb.append(r == 1 ? "(" : ", (").append(r).append(tuple).append(')');
        }
        sb.append(") AS k").append(names).append(" ON ").append(on);
        return lock ? sb.append(" FOR UPDATE OF cohort_t").toString() : sb.toString();
    }

    /** {@code SELECT CAST(? AS t1)::text = CAST(? AS t1)::text, ...}: both sides rendered by this one session. */
    @Override
    public String sameValues(List<ColumnMeta> columns) {
        StringJoiner j = new StringJoiner(", ", "SELECT ", "");
        for (ColumnMeta c : columns) {
            j.add("CAST(? AS " + c.sqlType() + ")::text = CAST(? AS " + c.sqlType() + ")::text");
        }
        return j.toString();
    }

    @Override
    public String restoreInsert(String qualifiedTable, String columnList, List<String> values) {
        return "INSERT INTO " + qualifiedTable + " (" + columnList + ") OVERRIDING SYSTEM VALUE VALUES ("
                + String.join(", ", values) + ")";
    }

    /** Untyped text: the server parses it as the column's type. */
    @Override
    public String writeValue(ColumnMeta column) {
        return "?";
    }

    @Override
    public String keyMatch(ColumnMeta column) {
        return quote(column.name()) + " = ?";
    }

    @Override
    public String insertUnlessDuplicate(String table, String columns, String values) {
        return "INSERT INTO " + table + " (" + columns + ") VALUES (" + values + ") ON CONFLICT DO NOTHING";
    }

    /**
     * PgJDBC sends the two statements of one prepared statement before a single Sync, and reads the
     * transaction's end from the server's ReadyForQuery: {@code commit()} after it is a no-op. If the
     * first statement fails, the server skips the COMMIT and the transaction is left aborted.
     */
    @Override
    public String thenCommit(String statement) {
        return statement + "; COMMIT";
    }

    /** {@code synchronous_commit} for this transaction only: a crash of the server may lose it, never a later one. */
    @Override
    public String commitWithoutFlushWait() {
        return "SET LOCAL synchronous_commit TO OFF";
    }

    @Override
    public String millisecondsAgo() {
        return "now() - ? * interval '1 millisecond'";
    }

    /** Any number of branches in two parameters: the pairs travel as two arrays. */
    @Override
    public String branchKeysIn(int count) {
        return "(xid, branch_id) IN (SELECT * FROM unnest(?::varchar[], ?::bigint[]))";
    }

    @Override
    public void bindBranchKeys(Connection connection, PreparedStatement ps, int index, String[] xids, long[] branchIds)
            throws SQLException {
        Long[] ids = new Long[branchIds.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = branchIds[i];
        }
        ps.setArray(index, connection.createArrayOf("varchar", xids));
        ps.setArray(index + 1, connection.createArrayOf("int8", ids));
    }

    @Override
    public boolean isUndefinedTable(SQLException e) {
        return "42P01".equals(e.getSQLState());
    }

    @Override
    public String ddlScript() {
        return "postgresql.sql";
    }

    @Override
    public boolean lockingReadWaitsForInsertsInFlight() {
        return false;
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
