package io.cohort.rm.undo;

import io.cohort.protocol.BranchStatus;
import io.cohort.rm.dialect.Dialect;
import io.cohort.rm.image.ColumnMeta;
import io.cohort.rm.image.TableMeta;
import io.cohort.rm.image.ValueCodec;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phase-2 rollback of one branch, in one local transaction:
 * <ol>
 *   <li>lock and read the branch's undo-log row;</li>
 *   <li>none: write an empty-rollback marker so a late phase 1 of this branch fails on the unique
 *       key and can never commit; done;</li>
 *   <li>a marker: rolled back before; done;</li>
 *   <li>else undo each statement, last first: lock the current rows by primary key and compare
 *       them with the images. Equal to the after image: restore the before image. Equal to the
 *       before image already: nothing to do. Anything else is a dirty write: roll back, touch
 *       nothing, report it with the evidence;</li>
 *   <li>delete the undo-log row and commit.</li>
 * </ol>
 * Running it twice is harmless: the second run finds no undo log and writes (or finds) the marker.
 */
public final class UndoExecutor {

    private static final Logger log = LoggerFactory.getLogger(UndoExecutor.class);
    private static final int KEYS_PER_SELECT = 500;
    private static final int MAX_EVIDENCE = 1000;

    /** How a rollback ended. */
    public record Outcome(BranchStatus status, String reason) {
    }

    private final Dialect dialect;
    private final UndoCodec codec;
    private final String undoTable;

    public UndoExecutor(Dialect dialect, UndoCodec codec, String undoTable) {
        this.dialect = dialect;
        this.codec = codec;
        this.undoTable = undoTable;
    }

    public Outcome rollback(DataSource dataSource, String xid, long branchId) {
        try (Connection c = dataSource.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                Outcome outcome = rollback(c, xid, branchId);
                if (outcome.status() == BranchStatus.PHASE2_ROLLBACKED) {
                    c.commit();
                } else {
                    c.rollback();
                }
                return outcome;
            } catch (SQLException | RuntimeException e) {
                safeRollback(c);
                throw e;
            } finally {
                c.setAutoCommit(autoCommit);
            }
        } catch (SQLException e) {
            log.warn("Rollback of branch {} of {} failed, the TC will retry: {}", branchId, xid, e.toString());
            return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE,
                    "database error during rollback: " + e.getMessage());
        }
    }

    private Outcome rollback(Connection c, String xid, long branchId) throws SQLException {
        for (int attempt = 0; attempt < 3; attempt++) {
            byte[] info = null;
            int status = -1;
            try (PreparedStatement ps = c.prepareStatement(dialect.selectUndoForUpdate(undoTable))) {
                ps.setString(1, xid);
                ps.setLong(2, branchId);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        info = rs.getBytes(1);
                        status = rs.getInt(2);
                    }
                }
            }
            if (status == 1) {
                return new Outcome(BranchStatus.PHASE2_ROLLBACKED, "already rolled back");
            }
            if (status == 0) {
                return apply(c, xid, branchId, info);
            }
            try (PreparedStatement ps = c.prepareStatement(dialect.insertMarker(undoTable))) {
                ps.setString(1, xid);
                ps.setLong(2, branchId);
                if (ps.executeUpdate() == 1) {
                    return new Outcome(BranchStatus.PHASE2_ROLLBACKED,
                            "no undo log: the branch never committed locally; marker written so it never will");
                }
            }
            // A phase 1 of this branch committed between our read and our insert: read again.
        }
        return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE, "undo log row kept changing; try again");
    }

    private Outcome apply(Connection c, String xid, long branchId, byte[] info) throws SQLException {
        List<UndoRecord> records;
        try {
            records = codec.decode(info);
        } catch (UndoFormatException e) {
            log.error("Undo log of branch {} of {} cannot be read: {}", branchId, xid, e.getMessage());
            return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, "undo log unreadable: " + e.getMessage());
        }
        try {
            for (int i = records.size() - 1; i >= 0; i--) {
                undo(c, records.get(i));
            }
        } catch (DirtyWriteException e) {
            log.error("Dirty write found rolling back branch {} of {}; data left untouched for a person to check: {}",
                    branchId, xid, e.getMessage());
            return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_DIRTY, e.getMessage());
        }
        try (PreparedStatement ps = c.prepareStatement(dialect.deleteUndo(undoTable))) {
            ps.setString(1, xid);
            ps.setLong(2, branchId);
            ps.executeUpdate();
        }
        return new Outcome(BranchStatus.PHASE2_ROLLBACKED, "undone " + records.size() + " statement(s)");
    }

    private void undo(Connection c, UndoRecord r) throws SQLException, DirtyWriteException {
        TableMeta meta = new TableMeta(r.schema(), r.table(), r.columns(), r.primaryKey());
        int[] pk = meta.primaryKeyIndexes();
        List<String[]> images = r.op() == UndoRecord.Op.DELETE ? r.before() : r.after();
        Map<String, String[]> current = currentRows(c, meta, pk, images);
        Map<String, String[]> beforeByKey = new HashMap<>();
        for (String[] b : r.before()) {
            beforeByKey.put(key(b, pk), b);
        }
        List<String[]> restore = new ArrayList<>();
        for (String[] image : images) {
            String k = key(image, pk);
            String[] now = current.get(k);
            switch (r.op()) {
                case UPDATE -> {
                    String[] before = beforeByKey.get(k);
                    if (now != null && Arrays.equals(now, image)) {
                        restore.add(before);
                    } else if (now == null || !Arrays.equals(now, before)) {
                        throw dirty(r, k, "after image", image, now);
                    }
                }
                case INSERT -> {
                    if (now != null && Arrays.equals(now, image)) {
                        restore.add(image);
                    } else if (now != null) {
                        throw dirty(r, k, "inserted row", image, now);
                    }
                }
                case DELETE -> {
                    if (now == null) {
                        restore.add(image);
                    } else if (!Arrays.equals(now, image)) {
                        throw dirty(r, k, "no row (deleted)", null, now);
                    }
                }
                default -> throw new IllegalStateException(r.op().name());
            }
        }
        if (restore.isEmpty()) {
            return;
        }
        switch (r.op()) {
            case UPDATE -> restoreUpdates(c, meta, pk, restore);
            case INSERT -> deleteRows(c, meta, pk, restore);
            case DELETE -> insertRows(c, meta, restore);
            default -> throw new IllegalStateException(r.op().name());
        }
    }

    private Map<String, String[]> currentRows(Connection c, TableMeta meta, int[] pk, List<String[]> images)
            throws SQLException {
        Map<String, String[]> out = new HashMap<>();
        List<ColumnMeta> columns = meta.columns();
        for (int from = 0; from < images.size(); from += KEYS_PER_SELECT) {
            List<String[]> chunk = images.subList(from, Math.min(images.size(), from + KEYS_PER_SELECT));
            try (PreparedStatement ps = c.prepareStatement(dialect.selectByKeysForUpdate(meta, chunk.size()))) {
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

    private void restoreUpdates(Connection c, TableMeta meta, int[] pk, List<String[]> rows) throws SQLException {
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
        if (set.isEmpty()) {
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

    private void deleteRows(Connection c, TableMeta meta, int[] pk, List<String[]> rows) throws SQLException {
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

    private void insertRows(Connection c, TableMeta meta, List<String[]> rows) throws SQLException {
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
    public static String key(String[] row, int[] pk) {
        if (pk.length == 1) {
            return row[pk[0]];
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pk.length; i++) {
            sb.append(i == 0 ? "" : "_").append(row[pk[i]]);
        }
        return sb.toString();
    }

    private static DirtyWriteException dirty(UndoRecord r, String key, String expectedWhat, String[] expected,
                                             String[] found) {
        StringBuilder sb = new StringBuilder("dirty write on ")
                .append(r.schema() == null || r.schema().equals("public") ? "" : r.schema() + ".")
                .append(r.table()).append(" pk ").append(key).append(": expected ").append(expectedWhat);
        if (found == null) {
            sb.append(" but the row is gone");
        } else {
            sb.append(" but found");
            for (int i = 0; i < r.columns().size(); i++) {
                String e = expected == null ? null : expected[i];
                if (expected == null || !java.util.Objects.equals(e, found[i])) {
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

    private static void safeRollback(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; closing it ends the transaction
        }
    }
}
