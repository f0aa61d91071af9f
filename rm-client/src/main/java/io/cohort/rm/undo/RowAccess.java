package io.cohort.rm.undo;

import io.cohort.rm.dialect.Dialect;
import io.cohort.rm.image.ColumnMeta;
import io.cohort.rm.image.TableMeta;
import io.cohort.rm.image.ValueCodec;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
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

    static TableMeta metaOf(UndoRecord r) {
        return new TableMeta(r.schema(), r.table(), r.columns(), r.primaryKey());
    }

    /** The current rows with the keys of {@code images}, locked, by lock-key form of their primary key. */
    Map<String, String[]> currentRows(Connection c, TableMeta meta, List<String[]> images) throws SQLException {
        return currentRows(c, meta, images, true);
    }

    /** As {@link #currentRows(Connection, TableMeta, List)}, optionally without locking (last committed values). */
    Map<String, String[]> currentRows(Connection c, TableMeta meta, List<String[]> images, boolean lock)
            throws SQLException {
        int[] pk = meta.primaryKeyIndexes();
        Map<String, String[]> out = new HashMap<>();
        List<ColumnMeta> columns = meta.columns();
        for (int from = 0; from < images.size(); from += KEYS_PER_SELECT) {
            List<String[]> chunk = images.subList(from, Math.min(images.size(), from + KEYS_PER_SELECT));
            String sql = lock ? dialect.selectByKeysForUpdate(meta, chunk.size()) : dialect.selectByKeys(meta, chunk.size());
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                int p = 1;
                for (String[] row : chunk) {
                    for (int k : pk) {
                        ValueCodec.bind(ps, p++, columns.get(k).type(), row[k]);
                    }
                }
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        String[] row = new String[columns.size()];
                        for (int i = 0; i < row.length; i++) {
                            row[i] = ValueCodec.read(rs, i + 1, columns.get(i).type());
                        }
                        out.put(key(row, pk), row);
                    }
                }
            }
        }
        return out;
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
                assignments.add(dialect.quote(col.name()) + " = ?");
            }
        }
        if (set.isEmpty() || rows.isEmpty()) {
            return;
        }
        String sql = "UPDATE " + dialect.qualifiedName(meta.schema(), meta.name()) + " SET " + assignments
                + " WHERE " + keyCondition(meta);
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (String[] row : rows) {
                int p = 1;
                for (int i : set) {
                    ValueCodec.bind(ps, p++, columns.get(i).type(), row[i]);
                }
                for (int k : pk) {
                    ValueCodec.bind(ps, p++, columns.get(k).type(), row[k]);
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
                    ValueCodec.bind(ps, p++, meta.columns().get(k).type(), row[k]);
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
        for (int i = 0; i < columns.size(); i++) {
            if (!columns.get(i).generated()) {
                written.add(i);
                names.add(dialect.quote(columns.get(i).name()));
            }
        }
        String sql = dialect.restoreInsert(dialect.qualifiedName(meta.schema(), meta.name()), names.toString(),
                written.size());
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (String[] row : rows) {
                int p = 1;
                for (int i : written) {
                    ValueCodec.bind(ps, p++, columns.get(i).type(), row[i]);
                }
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    private String keyCondition(TableMeta meta) {
        StringJoiner j = new StringJoiner(" AND ");
        for (String k : meta.primaryKey()) {
            j.add(dialect.quote(k) + " = ?");
        }
        return j.toString();
    }

    /** The lock-key form of a row's primary key: values joined by '_'. */
    static String key(String[] row, int[] pk) {
        if (pk.length == 1) {
            return row[pk[0]];
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pk.length; i++) {
            sb.append(i == 0 ? "" : "_").append(row[pk[i]]);
        }
        return sb.toString();
    }

    /** Evidence of a row that is not what it should be: the differing columns, found and expected. */
    static DirtyWriteException dirty(UndoRecord r, String key, String expectedWhat, String[] expected, String[] found) {
        StringBuilder sb = new StringBuilder("dirty write on ")
                .append(r.schema() == null || r.schema().equals("public") ? "" : r.schema() + ".")
                .append(r.table()).append(" pk ").append(key).append(": expected ").append(expectedWhat);
        if (found == null) {
            sb.append(" but the row is gone");
        } else {
            sb.append(" but found");
            for (int i = 0; i < r.columns().size(); i++) {
                String e = expected == null ? null : expected[i];
                if (expected == null || !Objects.equals(e, found[i])) {
                    sb.append(' ').append(r.columns().get(i).name()).append('=').append(found[i]);
                    if (expected != null) {
                        sb.append(" (expected ").append(e).append(')');
                    }
                }
            }
        }
        String s = sb.toString();
        return new DirtyWriteException(s.length() <= MAX_EVIDENCE ? s : s.substring(0, MAX_EVIDENCE) + "...");
    }
}
