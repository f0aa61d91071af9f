package io.cohort.rm.jdbc;

import io.cohort.protocol.LockKeys;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;

/**
 * Reading and writing whole rows by primary key from the images of an undo log: what undo
 * (before images back), redo (after images again) and the 3PC vote (are the after images still
 * there?) share.
 */
final class RowAccess {

    private static final int KEYS_PER_SELECT = 500;
    private static final int MAX_EVIDENCE = 1000;

    private final Dialect dialect;

    RowAccess(Dialect dialect) {
        this.dialect = dialect;
    }

    /**
     * The table of a record, every column with its SQL type: undo logs written before the type was
     * recorded (format version 1) take it from the catalog.
     */
    TableMeta metaOf(Connection c, UndoRecord r) throws SQLException {
        List<ColumnMeta> columns = r.columns();
        if (columns.stream().anyMatch(col -> col.sqlType() == null)) {
            TableMeta now = dialect.loadTableMeta(c, dialect.qualifiedName(r.schema(), r.table()));
            if (now == null) {
                throw new SQLException("Table " + r.table() + " of an undo log no longer exists", "42P01");
            }
            List<ColumnMeta> typed = new ArrayList<>(columns.size());
            for (ColumnMeta col : columns) {
                int i = now.indexOf(col.name());
                if (i < 0) {
                    throw new SQLException("Column " + col.name() + " of " + r.table() + " in an undo log no longer exists",
                            "42703");
                }
                typed.add(col.withSqlType(now.columns().get(i).sqlType()));
            }
            columns = typed;
        }
        return new TableMeta(r.schema(), r.table(), columns, r.primaryKey());
    }

    /**
     * The current rows with the keys of {@code images}, aligned with {@code images} (null where the
     * row is gone); locked, or not locked (the last committed values).
     */
    List<String[]> currentRows(Connection c, TableMeta meta, List<String[]> images, boolean lock) throws SQLException {
        int[] pk = meta.primaryKeyIndexes();
        List<ColumnMeta> columns = meta.columns();
        String[][] out = new String[images.size()][];
        for (int from = 0; from < images.size(); from += KEYS_PER_SELECT) {
            List<String[]> chunk = images.subList(from, Math.min(images.size(), from + KEYS_PER_SELECT));
            try (PreparedStatement ps = c.prepareStatement(dialect.selectByKeys(meta, chunk.size(), lock))) {
                int p = 1;
                for (String[] row : chunk) {
                    for (int k : pk) {
                        dialect.bindImage(ps, p++, row[k]);
                    }
                }
                Map<String, List<Integer>> byKey = null;
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String[] row = new String[columns.size()];
                        for (int i = 0; i < row.length; i++) {
                            row[i] = ValueCodec.read(rs, i + 2);
                        }
                        int number = rs.getInt(1);
                        if (!rs.wasNull()) {
                            out[from + number - 1] = row;
                            continue;
                        }
                        // Unnumbered (Dialect#selectByKeys): the key's text says which image the row belongs to.
                        if (byKey == null) {
                            byKey = new HashMap<>();
                            for (int i = 0; i < chunk.size(); i++) {
                                byKey.computeIfAbsent(key(chunk.get(i), pk), k -> new ArrayList<>()).add(from + i);
                            }
                        }
                        for (int i : byKey.getOrDefault(key(row, pk), List.of())) {
                            out[i] = row;
                        }
                    }
                }
            }
        }
        return Arrays.asList(out);
    }

    /**
     * The columns whose values differ between a current row and an image (empty: the same row).
     * Equal texts are the same value; different texts are asked of the database, which renders both
     * in one session — an image read under another time zone or interval style is not a change.
     */
    List<Integer> differences(Connection c, TableMeta meta, String[] found, String[] expected) throws SQLException {
        List<Integer> differ = new ArrayList<>();
        List<Integer> ask = new ArrayList<>();
        for (int i = 0; i < found.length; i++) {
            if (Objects.equals(found[i], expected[i])) {
                continue;
            }
            (found[i] == null || expected[i] == null ? differ : ask).add(i);
        }
        if (ask.isEmpty()) {
            return differ;
        }
        List<ColumnMeta> columns = new ArrayList<>(ask.size());
        for (int i : ask) {
            columns.add(meta.columns().get(i));
        }
        try (PreparedStatement ps = c.prepareStatement(dialect.sameValues(columns))) {
            int p = 1;
            for (int i : ask) {
                dialect.bindImage(ps, p++, found[i]);
                dialect.bindImage(ps, p++, expected[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                for (int j = 0; j < ask.size(); j++) {
                    if (!rs.getBoolean(j + 1)) {
                        differ.add(ask.get(j));
                    }
                }
            }
        }
        differ.sort(null);
        return differ;
    }

    /** Whether the current row {@code found} (null: gone) holds exactly the values of {@code expected}. */
    boolean same(Connection c, TableMeta meta, String[] found, String[] expected) throws SQLException {
        return found != null && differences(c, meta, found, expected).isEmpty();
    }

    /** Writes every non-key, non-generated column of {@code rows} over the rows with the same key. */
    void updateRows(Connection c, TableMeta meta, List<String[]> rows) throws SQLException {
        int[] pk = meta.primaryKeyIndexes();
        List<ColumnMeta> columns = meta.columns();
        List<Integer> set = new ArrayList<>();
        StringJoiner assignments = new StringJoiner(", ");
        for (int i = 0; i < columns.size(); i++) {
            ColumnMeta col = columns.get(i);
            if (!col.generated() && !meta.isPrimaryKey(col.name())) {
                set.add(i);
                assignments.add(dialect.quote(col.name()) + " = " + dialect.writeValue(col));
            }
        }
        if (set.isEmpty() || rows.isEmpty()) {
            return;
        }
        String sql = "UPDATE " + dialect.qualifiedName(meta.schema(), meta.name()) + " SET " + assignments
                + " WHERE " + keyCondition(meta);
        try (Dialect.SessionPin pin = dialect.pinForWrites(c, meta); PreparedStatement ps = c.prepareStatement(sql)) {
            for (String[] row : rows) {
                int p = 1;
                for (int i : set) {
                    dialect.bindImage(ps, p++, row[i]);
                }
                for (int k : pk) {
                    dialect.bindImage(ps, p++, row[k]);
                }
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    void deleteRows(Connection c, TableMeta meta, List<String[]> rows) throws SQLException {
        if (rows.isEmpty()) {
            return;
        }
        int[] pk = meta.primaryKeyIndexes();
        String sql = "DELETE FROM " + dialect.qualifiedName(meta.schema(), meta.name()) + " WHERE " + keyCondition(meta);
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (String[] row : rows) {
                int p = 1;
                for (int k : pk) {
                    dialect.bindImage(ps, p++, row[k]);
                }
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    /** Inserts whole rows with their original values, identity columns included. */
    void insertRows(Connection c, TableMeta meta, List<String[]> rows) throws SQLException {
        if (rows.isEmpty()) {
            return;
        }
        List<ColumnMeta> columns = meta.columns();
        List<Integer> written = new ArrayList<>();
        StringJoiner names = new StringJoiner(", ");
        List<String> values = new ArrayList<>();
        for (int i = 0; i < columns.size(); i++) {
            if (!columns.get(i).generated()) {
                written.add(i);
                names.add(dialect.quote(columns.get(i).name()));
                values.add(dialect.writeValue(columns.get(i)));
            }
        }
        String sql = dialect.restoreInsert(dialect.qualifiedName(meta.schema(), meta.name()), names.toString(), values);
        try (Dialect.SessionPin pin = dialect.pinForWrites(c, meta); PreparedStatement ps = c.prepareStatement(sql)) {
            for (String[] row : rows) {
                int p = 1;
                for (int i : written) {
                    dialect.bindImage(ps, p++, row[i]);
                }
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    private String keyCondition(TableMeta meta) {
        StringJoiner j = new StringJoiner(" AND ");
        for (int k : meta.primaryKeyIndexes()) {
            j.add(dialect.keyMatch(meta.columns().get(k)));
        }
        return j.toString();
    }

    /** A row's primary key in its lock-key form ({@link LockKeys#row}), distinct for distinct keys. */
    static String key(String[] row, int[] pk) {
        String[] values = new String[pk.length];
        for (int i = 0; i < pk.length; i++) {
            values[i] = row[pk[i]];
        }
        return LockKeys.row(values);
    }

    /**
     * Evidence of a row that is not what it should be: the columns that differ ({@code differing};
     * every column when nothing was expected), found and expected.
     */
    static DirtyWriteException dirty(UndoRecord r, String key, String expectedWhat, String[] expected, String[] found,
                                     List<Integer> differing) {
        StringBuilder sb = new StringBuilder("dirty write on ")
                .append(r.schema() == null || r.schema().equals("public") ? "" : r.schema() + ".")
                .append(r.table()).append(" pk ").append(key).append(": expected ").append(expectedWhat);
        if (found == null) {
            sb.append(" but the row is gone");
        } else {
            sb.append(" but found");
            for (int i = 0; i < r.columns().size(); i++) {
                if (expected == null || differing.contains(i)) {
                    sb.append(' ').append(r.columns().get(i).name()).append('=').append(found[i]);
                    if (expected != null) {
                        sb.append(" (expected ").append(expected[i]).append(')');
                    }
                }
            }
        }
        String s = sb.toString();
        return new DirtyWriteException(s.length() <= MAX_EVIDENCE ? s : s.substring(0, MAX_EVIDENCE) + "...");
    }
}
