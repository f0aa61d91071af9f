package io.cohort.rm.jdbc;

import java.sql.Connection;
import java.sql.JDBCType;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.StringJoiner;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * MySQL 8 and MariaDB 10.11+ (InnoDB). Neither can return the rows an UPDATE changes, and MySQL not
 * those of an INSERT or DELETE either, so the executors read the images around the statement
 * ({@link #hasReturning()} is false). Every image value is text the server renders itself, in a form
 * it parses back to the identical value whatever the session: FLOAT through DOUBLE (its own text
 * rounds to 6 digits), BIT as its number, binary strings in hex, TIMESTAMP as UTC computed from the
 * stored instant (never through the session's time zone). Writes of TIMESTAMP images run with the
 * session's time zone pinned to UTC ({@link #pinForWrites}).
 */
final class MySqlDialect implements Dialect {

    private static final String COLUMNS_SQL = """
            SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, LOWER(c.DATA_TYPE), LOWER(c.COLUMN_TYPE),
                   COALESCE(c.GENERATION_EXPRESSION, '') <> '', LOWER(c.EXTRA) LIKE '%auto_increment%',
                   (SELECT s.SEQ_IN_INDEX FROM information_schema.STATISTICS s
                     WHERE s.TABLE_SCHEMA = c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME
                       AND s.INDEX_NAME = 'PRIMARY' AND s.COLUMN_NAME = c.COLUMN_NAME),
                   c.TABLE_SCHEMA = DATABASE()
              FROM information_schema.COLUMNS c
             WHERE c.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND c.TABLE_NAME = ?
             ORDER BY c.ORDINAL_POSITION""";

    private static final Set<String> SIGNED_INTEGERS = Set.of("tinyint", "smallint", "mediumint", "int", "bigint");
    private static final Set<String> TEXTS = Set.of("char", "varchar", "tinytext", "text", "mediumtext", "longtext",
            "enum", "set", "json");
    private static final Set<String> BINARIES = Set.of("binary", "varbinary", "tinyblob", "blob", "mediumblob",
            "longblob");
    /** Types whose text (as {@link #imageColumn} renders it) the server parses back to the identical value. */
    private static final Set<String> EXACT = Set.of("tinyint", "smallint", "mediumint", "int", "bigint", "decimal",
            "float", "double", "bit", "date", "time", "datetime", "timestamp", "year", "char", "varchar", "tinytext",
            "text", "mediumtext", "longtext", "enum", "set", "json", "binary", "varbinary", "tinyblob", "blob",
            "mediumblob", "longblob");
    private static final Pattern PRECISION = Pattern.compile("\\((\\d+)(?:,(\\d+))?\\)");

    @Override
    public TableMeta loadTableMeta(Connection connection, String tableAsWritten) throws SQLException {
        List<String> parts = splitName(tableAsWritten);
        String schema = parts.size() > 1 ? parts.get(0) : null;
        String table = parts.get(parts.size() - 1);
        String foundSchema = null;
        String name = null;
        boolean currentDatabase = false;
        String autoIncrement = null;
        List<ColumnMeta> columns = new ArrayList<>();
        Map<Integer, String> keys = new java.util.TreeMap<>();
        Map<String, String> unrestorable = new LinkedHashMap<>();
        try (PreparedStatement ps = connection.prepareStatement(COLUMNS_SQL)) {
            ps.setString(1, schema);
            ps.setString(2, table);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    foundSchema = rs.getString(1);
                    name = rs.getString(2);
                    currentDatabase = rs.getBoolean(9);
                    String column = rs.getString(3);
                    String dataType = rs.getString(4);
                    String columnType = rs.getString(5);
                    columns.add(new ColumnMeta(column, jdbcType(dataType), columnType, rs.getBoolean(6)));
                    if (rs.getBoolean(7)) {
                        autoIncrement = column;
                    }
                    int keyPosition = rs.getInt(8);
                    boolean key = !rs.wasNull();
                    if (key) {
                        keys.put(keyPosition, column);
                    }
                    if (!EXACT.contains(dataType)) {
                        unrestorable.put(column, columnType);
                    } else if (key && (dataType.equals("float") || dataType.equals("double"))) {
                        unrestorable.put(column, columnType + " (as a primary-key column)");
                    }
                }
            }
        }
        if (name == null) {
            return null;
        }
        return new TableMeta(currentDatabase ? null : foundSchema, name, columns, new ArrayList<>(keys.values()),
                unrestorable, autoIncrement);
    }

    /** {@code db.t}, {@code `db`.`t`}, {@code "t"}: the parts without their quotes. */
    static List<String> splitName(String written) {
        List<String> parts = new ArrayList<>();
        StringBuilder part = new StringBuilder();
        char quote = 0;
        for (int i = 0; i < written.length(); i++) {
            char c = written.charAt(i);
            if (quote != 0) {
                if (c == quote && i + 1 < written.length() && written.charAt(i + 1) == quote) {
                    part.append(c);
                    i++;
                } else if (c == quote) {
                    quote = 0;
                } else {
                    part.append(c);
                }
            } else if (c == '`' || c == '"') {
                quote = c;
            } else if (c == '.') {
                parts.add(part.toString());
                part.setLength(0);
            } else if (!Character.isWhitespace(c)) {
                part.append(c);
            }
        }
        parts.add(part.toString());
        return parts;
    }

    /** Only picks how {@link #imageColumn} renders a column; the MySQL type itself is the column's sqlType. */
    static JDBCType jdbcType(String dataType) {
        return switch (dataType) {
            case "tinyint" -> JDBCType.TINYINT;
            case "smallint", "year" -> JDBCType.SMALLINT;
            case "mediumint", "int" -> JDBCType.INTEGER;
            case "bigint" -> JDBCType.BIGINT;
            case "decimal" -> JDBCType.DECIMAL;
            case "float" -> JDBCType.REAL;
            case "double" -> JDBCType.DOUBLE;
            case "bit" -> JDBCType.BIT;
            case "date" -> JDBCType.DATE;
            case "time" -> JDBCType.TIME;
            case "datetime" -> JDBCType.TIMESTAMP;
            // An instant, stored in UTC and shown in the session's time zone.
            case "timestamp" -> JDBCType.TIMESTAMP_WITH_TIMEZONE;
            case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob" -> JDBCType.BINARY;
            case "char" -> JDBCType.CHAR;
            default -> TEXTS.contains(dataType) ? JDBCType.VARCHAR : JDBCType.OTHER;
        };
    }

    /** The column's data type ({@code bigint} of {@code bigint(20) unsigned}). */
    private static String dataType(ColumnMeta column) {
        String t = column.sqlType().toLowerCase(Locale.ROOT);
        int end = 0;
        while (end < t.length() && Character.isLetter(t.charAt(end))) {
            end++;
        }
        return t.substring(0, end);
    }

    private static boolean unsigned(ColumnMeta column) {
        return column.sqlType().toLowerCase(Locale.ROOT).contains("unsigned");
    }

    /** The first and second number in the type's parentheses ({@code decimal(65,30)}), or null. */
    private static int[] precision(ColumnMeta column) {
        Matcher m = PRECISION.matcher(column.sqlType());
        if (!m.find()) {
            return null;
        }
        return new int[] {Integer.parseInt(m.group(1)), m.group(2) == null ? 0 : Integer.parseInt(m.group(2))};
    }

    private String imageText(ColumnMeta column, String qualifier) {
        String q = (qualifier == null ? "" : qualifier + ".") + quote(column.name());
        String type = dataType(column);
        if (BINARIES.contains(type)) {
            return "HEX(" + q + ")";
        }
        return switch (type) {
            // FLOAT's own text keeps 6 digits; as a DOUBLE it is exact and parses back to the same FLOAT.
            case "float" -> "CAST(" + q + " + 0e0 AS CHAR)";
            case "bit" -> "CAST(" + q + " + 0 AS CHAR)";
            // UNIX_TIMESTAMP of a TIMESTAMP column is the stored instant, untouched by the session's time zone.
            case "timestamp" -> "DATE_FORMAT(TIMESTAMPADD(MICROSECOND, CAST(UNIX_TIMESTAMP(" + q
                    + ") * 1000000 AS SIGNED), TIMESTAMP'1970-01-01 00:00:00'), '%Y-%m-%d %H:%i:%s.%f')";
            default -> TEXTS.contains(type) ? "CAST(" + q + " AS CHAR CHARACTER SET utf8mb4)" : "CAST(" + q + " AS CHAR)";
        };
    }

    @Override
    public String imageColumn(ColumnMeta column, String qualifier) {
        return imageText(column, qualifier) + " AS " + quote(column.name());
    }

    @Override
    public String quote(String identifier) {
        return '`' + identifier.replace("`", "``") + '`';
    }

    @Override
    public boolean hasReturning() {
        return false;
    }

    @Override
    public String updateWithImages(SqlPlan.Update plan, TableMeta meta) {
        return null;
    }

    @Override
    public String selectForUpdate(String tableClause, String where, TableMeta meta) {
        return imageRead(null, meta, tableClause, where, true);
    }

    /**
     * {@code SELECT [lead, ]<images> FROM <table> [WHERE where] [FOR UPDATE]}: the one shape of every image
     * read here (MySQL has no RETURNING, so images are always read by a SELECT around the statement).
     */
    private String imageRead(String lead, TableMeta meta, String tableClause, String where, boolean lock) {
        return "SELECT " + (lead == null ? "" : lead + ", ") + imageList(meta) + " FROM " + tableClause
                + (where == null ? "" : " WHERE " + where) + (lock ? " FOR UPDATE" : "");
    }

    /** {@code (c1 = x AND c2 = y) OR (...)}: one group per row, each a list of column comparisons. */
    private static String anyRow(List<List<String>> rows) {
        StringJoiner where = new StringJoiner(" OR ");
        for (List<String> comparisons : rows) {
            where.add("(" + String.join(" AND ", comparisons) + ")");
        }
        return where.toString();
    }

    @Override
    public String withReturning(String sql, boolean hasReturning, String[] callerColumns, TableMeta meta) {
        throw new UnsupportedOperationException("MySQL images are read around the statement, not returned by it");
    }

    /**
     * {@code SELECT NULL, <images> FROM t WHERE (k1 = ? AND k2 = ?) OR ... [FOR UPDATE]}: each key is
     * bound once, so the rows carry no key number and are matched to their keys by key text (keys are
     * rendered the same in every session).
     */
    @Override
    public String selectByKeys(TableMeta meta, int rows, boolean lock) {
        List<String> match = new ArrayList<>();
        for (int k : meta.primaryKeyIndexes()) {
            match.add(keyMatch(meta.columns().get(k)));
        }
        return imageRead("NULL", meta, qualifiedName(meta.schema(), meta.name()), anyRow(Collections.nCopies(rows, match)),
                lock);
    }

    /** Each key column compared with the INSERT's own expression for it, cast as the INSERT stored it. */
    @Override
    public String selectByKeyExpressions(TableMeta meta, List<String[]> keyExpressions) {
        int[] pk = meta.primaryKeyIndexes();
        List<List<String>> rows = new ArrayList<>();
        for (String[] row : keyExpressions) {
            List<String> match = new ArrayList<>();
            for (int i = 0; i < pk.length; i++) {
                ColumnMeta c = meta.columns().get(pk[i]);
                match.add(quote(c.name()) + " = " + valueOf(c, row[i]));
            }
            rows.add(match);
        }
        return imageRead(null, meta, qualifiedName(meta.schema(), meta.name()), anyRow(rows), true);
    }

    /** An INSERT's expression as the column's value, for comparing with the stored value. */
    private static String valueOf(ColumnMeta column, String expression) {
        String type = dataType(column);
        int[] p = precision(column);
        if (SIGNED_INTEGERS.contains(type)) {
            return "CAST(" + expression + " AS " + (unsigned(column) ? "UNSIGNED" : "SIGNED") + ")";
        }
        return switch (type) {
            case "decimal" -> "CAST(" + expression + " AS DECIMAL(" + p[0] + "," + p[1] + "))";
            case "binary" -> "CAST(" + expression + " AS BINARY(" + (p == null ? 1 : p[0]) + "))";
            case "date" -> "CAST(" + expression + " AS DATE)";
            case "time" -> "CAST(" + expression + " AS TIME(" + (p == null ? 0 : p[0]) + "))";
            case "datetime", "timestamp" -> "CAST(" + expression + " AS DATETIME(" + (p == null ? 0 : p[0]) + "))";
            default -> expression;
        };
    }

    @Override
    public String generatedKeyRange() {
        return "SELECT LAST_INSERT_ID(), @@auto_increment_increment, @@innodb_autoinc_lock_mode < 2";
    }

    /** Different texts are different values here: every image text is the server's one rendering of its value. */
    @Override
    public String sameValues(List<ColumnMeta> columns) {
        StringJoiner j = new StringJoiner(", ", "SELECT ", "");
        for (int i = 0; i < columns.size(); i++) {
            j.add("CAST(? AS BINARY) = CAST(? AS BINARY)");
        }
        return j.toString();
    }

    @Override
    public String restoreInsert(String qualifiedTable, String columnList, List<String> values) {
        return "INSERT INTO " + qualifiedTable + " (" + columnList + ") VALUES (" + String.join(", ", values) + ")";
    }

    @Override
    public String writeValue(ColumnMeta column) {
        String type = dataType(column);
        if (BINARIES.contains(type)) {
            return "UNHEX(?)";
        }
        return type.equals("bit") ? "CAST(? AS UNSIGNED)" : "?";
    }

    /**
     * The bound key text cast to the column's type, so the comparison is the type's own (a string
     * compared with a BIGINT would be compared as a DOUBLE). A TIMESTAMP key is compared as its image
     * text: the session's time zone must not move it.
     */
    @Override
    public String keyMatch(ColumnMeta column) {
        String type = dataType(column);
        if (type.equals("timestamp")) {
            return imageText(column, null) + " = ?";
        }
        String q = quote(column.name());
        int[] p = precision(column);
        if (SIGNED_INTEGERS.contains(type)) {
            return q + " = CAST(? AS " + (unsigned(column) ? "UNSIGNED" : "SIGNED") + ")";
        }
        if (BINARIES.contains(type)) {
            return q + " = UNHEX(?)";
        }
        return q + " = " + switch (type) {
            case "decimal" -> "CAST(? AS DECIMAL(" + p[0] + "," + p[1] + "))";
            case "bit", "year" -> "CAST(? AS UNSIGNED)";
            case "date" -> "CAST(? AS DATE)";
            case "time" -> "CAST(? AS TIME(6))";
            case "datetime" -> "CAST(? AS DATETIME(6))";
            default -> "?";
        };
    }

    @Override
    public void bindImage(PreparedStatement ps, int index, String value) throws SQLException {
        if (value == null) {
            ps.setNull(index, Types.VARCHAR);
        } else {
            ps.setString(index, value);
        }
    }

    /** TIMESTAMP images are UTC: written with the session's time zone at UTC, then set back. */
    @Override
    public SessionPin pinForWrites(Connection connection, TableMeta meta) throws SQLException {
        boolean timestamps = meta.columns().stream().anyMatch(c -> dataType(c).equals("timestamp"));
        if (!timestamps) {
            return () -> { };
        }
        String zone;
        try (Statement s = connection.createStatement();
             ResultSet rs = s.executeQuery("SELECT @@session.time_zone")) {
            rs.next();
            zone = rs.getString(1);
        }
        if ("+00:00".equals(zone)) {
            return () -> { };
        }
        setTimeZone(connection, "+00:00");
        return () -> setTimeZone(connection, zone);
    }

    private static void setTimeZone(Connection connection, String zone) throws SQLException {
        try (Statement s = connection.createStatement()) {
            s.execute("SET time_zone = '" + zone.replace("'", "''") + "'");
        }
    }

    // ---- undo log ----

    @Override
    public String insertUnlessDuplicate(String table, String columns, String values) {
        return "INSERT IGNORE INTO " + table + " (" + columns + ") VALUES (" + values + ")";
    }

    @Override
    public String millisecondsAgo() {
        return "CURRENT_TIMESTAMP(6) - INTERVAL (? * 1000) MICROSECOND";
    }

    @Override
    public String branchKeysIn(int count) {
        return "(xid, branch_id) IN (" + "(?, ?), ".repeat(count - 1) + "(?, ?))";
    }

    /**
     * The undo log read through its unique key {@code ux_undo_log_branch} (sql/rm/mysql.sql). Left to
     * itself, InnoDB's optimizer scans the whole table for a list of more than a few keys while the
     * table is small, as a busy undo log is; under REPEATABLE READ such a scan locks every row and
     * every gap, so concurrent batches deadlocked with each other and with phase 1's inserts. On the
     * key, a batch locks only its own rows (and the gaps before them), in key order.
     */
    @Override
    public String undoLogByBranchKeys(String undoTable) {
        return undoTable + " FORCE INDEX (" + undoLogBranchKey() + ")";
    }

    @Override
    public String undoLogBranchKey() {
        return "ux_undo_log_branch";
    }

    /** ER_KEY_DOES_NOT_EXITS (sic): a FORCE INDEX naming a key the table lacks. */
    @Override
    public boolean isUnknownIndex(SQLException e) {
        return e.getErrorCode() == 1176;
    }

    /** The multiple-table form: the single-table DELETE takes no index hint. */
    @Override
    public String deleteFromUndoLogByBranchKeys(String undoTable) {
        return "DELETE " + undoTable + " FROM " + undoLogByBranchKeys(undoTable);
    }

    @Override
    public void bindBranchKeys(Connection connection, PreparedStatement ps, int index, String[] xids, long[] branchIds)
            throws SQLException {
        for (int i = 0; i < xids.length; i++) {
            ps.setString(index + 2 * i, xids[i]);
            ps.setLong(index + 2 * i + 1, branchIds[i]);
        }
    }

    @Override
    public boolean lockingReadWaitsForInsertsInFlight() {
        return true;
    }

    @Override
    public boolean isUniqueViolation(SQLException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException s && s.getErrorCode() == 1062) {
                return true;
            }
        }
        return false;
    }

    @Override
    public boolean isUndefinedTable(SQLException e) {
        return "42S02".equals(e.getSQLState()) || e.getErrorCode() == 1146;
    }

    @Override
    public String ddlScript() {
        return "mysql.sql";
    }
}
