package io.cohort.rm.undo;

import io.cohort.protocol.BranchStatus;
import io.cohort.rm.dialect.Dialect;
import io.cohort.rm.image.TableMeta;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The after-image side of an undo log, for three-phase commit:
 * <ul>
 *   <li>{@link #verifyAfterImages}: the CanCommit check — do the rows still hold what the branch
 *       wrote? A write from outside the global transaction is caught here, before anything is
 *       decided;</li>
 *   <li>{@link #redo}: the TC's repair of a branch this RM rolled back on its own while the global
 *       outcome was commit. The global locks were held all along, so the rows must still equal the
 *       before images; then the after images are written again, statement by statement in their
 *       original order, and the undo log is deleted. Rows that changed anyway are not touched:
 *       an unretryable failure with the evidence, for a person.</li>
 * </ul>
 */
public final class RedoExecutor {

    private static final Logger log = LoggerFactory.getLogger(RedoExecutor.class);

    private final UndoCodec codec;
    private final UndoLogTable undoLog;
    private final RowAccess rows;

    public RedoExecutor(Dialect dialect, UndoCodec codec, UndoLogTable undoLog) {
        this.codec = codec;
        this.undoLog = undoLog;
        this.rows = new RowAccess(dialect);
    }

    /**
     * Null when every row the branch wrote still holds its final after image (an inserted or updated
     * row as written, a deleted row still gone), else the evidence of the first difference.
     *
     * <p>Reads the last committed rows without locking them: another local transaction that updated
     * a row and now waits for this branch's global lock holds the row's local lock, and a locking read
     * here would wait for it while it waits for us — until the vote times out. Its uncommitted write
     * is not what the vote is about; a committed write from outside is.
     */
    public String verifyAfterImages(Connection c, byte[] info) throws SQLException {
        List<UndoRecord> records;
        try {
            records = codec.decode(info);
        } catch (UndoFormatException e) {
            return "undo log unreadable: " + e.getMessage();
        }
        Set<String> checked = new HashSet<>();
        // Last statement first: a row written twice must hold what the last statement wrote.
        for (int i = records.size() - 1; i >= 0; i--) {
            UndoRecord r = records.get(i);
            TableMeta meta = rows.metaOf(c, r);
            int[] pk = meta.primaryKeyIndexes();
            List<String[]> images = r.op() == UndoRecord.Op.DELETE ? r.before() : r.after();
            List<String[]> current = rows.currentRows(c, meta, images, false);
            for (int j = 0; j < images.size(); j++) {
                String[] image = images.get(j);
                String k = RowAccess.key(image, pk);
                if (!checked.add(r.schema() + "." + r.table() + ":" + k)) {
                    continue;
                }
                String[] now = current.get(j);
                if (r.op() == UndoRecord.Op.DELETE) {
                    if (now != null) {
                        return RowAccess.dirty(r, k, "no row (deleted by the branch)", null, now, List.of()).getMessage();
                    }
                } else if (!rows.same(c, meta, now, image)) {
                    return RowAccess.dirty(r, k, "after image", image, now,
                            now == null ? List.of() : rows.differences(c, meta, now, image)).getMessage();
                }
            }
        }
        return null;
    }

    /** REDO of one branch in its own local transaction; idempotent (a second run finds no undo log). */
    public UndoExecutor.Outcome redo(DataSource dataSource, String xid, long branchId) {
        try (Connection c = dataSource.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                UndoExecutor.Outcome outcome = redo(c, xid, branchId);
                if (outcome.status() == BranchStatus.PHASE2_COMMITTED) {
                    c.commit();
                } else {
                    c.rollback();
                }
                return outcome;
            } catch (SQLException | RuntimeException e) {
                UndoExecutor.safeRollback(c);
                throw e;
            } finally {
                c.setAutoCommit(autoCommit);
            }
        } catch (SQLException e) {
            log.warn("Redo of branch {} of {} failed, the TC will retry: {}", branchId, xid, e.toString());
            return new UndoExecutor.Outcome(BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE,
                    "database error during redo: " + e.getMessage());
        }
    }

    private UndoExecutor.Outcome redo(Connection c, String xid, long branchId) throws SQLException {
        UndoLogTable.Row row = undoLog.lock(c, xid, branchId);
        if (row == null) {
            return new UndoExecutor.Outcome(BranchStatus.PHASE2_COMMITTED, "no undo log: redone before");
        }
        switch (row.status()) {
            case ROLLBACK_MARKER -> {
                return new UndoExecutor.Outcome(BranchStatus.PHASE2_COMMIT_FAILED_UNRETRYABLE, "branch " + branchId
                        + " of " + xid + " was rolled back on the TC's order and its undo log is gone: it cannot be redone");
            }
            case ROLLED_BACK_ALONE -> {
                // below
            }
            default -> {
                // Never rolled back (or committed alone): the rows hold the after images already.
                undoLog.delete(c, xid, branchId);
                return new UndoExecutor.Outcome(BranchStatus.PHASE2_COMMITTED, "not rolled back: nothing to redo");
            }
        }
        List<UndoRecord> records;
        try {
            records = codec.decode(row.rollbackInfo());
        } catch (UndoFormatException e) {
            return new UndoExecutor.Outcome(BranchStatus.PHASE2_COMMIT_FAILED_UNRETRYABLE,
                    "undo log unreadable, cannot redo: " + e.getMessage());
        }
        try {
            for (UndoRecord r : records) {
                redo(c, r);
            }
        } catch (DirtyWriteException e) {
            String why = "cannot redo branch " + branchId + " of " + xid + ": the rows changed after this RM rolled it"
                    + " back on its own; data left untouched for a person to check: " + e.getMessage();
            log.error(why);
            return new UndoExecutor.Outcome(BranchStatus.PHASE2_COMMIT_FAILED_UNRETRYABLE, why);
        }
        undoLog.delete(c, xid, branchId);
        return new UndoExecutor.Outcome(BranchStatus.PHASE2_COMMITTED,
                "redone " + records.size() + " statement(s) from the after image");
    }

    private void redo(Connection c, UndoRecord r) throws SQLException, DirtyWriteException {
        TableMeta meta = rows.metaOf(c, r);
        int[] pk = meta.primaryKeyIndexes();
        List<String[]> images = r.op() == UndoRecord.Op.INSERT ? r.after() : r.before();
        List<String[]> current = rows.currentRows(c, meta, images, true);
        Map<String, String[]> afterByKey = new HashMap<>();
        for (String[] a : r.after()) {
            afterByKey.put(RowAccess.key(a, pk), a);
        }
        List<String[]> write = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            String[] image = images.get(i);
            String k = RowAccess.key(image, pk);
            String[] now = current.get(i);
            switch (r.op()) {
                case UPDATE -> {
                    if (!rows.same(c, meta, now, image)) {
                        throw RowAccess.dirty(r, k, "before image", image, now,
                                now == null ? List.of() : rows.differences(c, meta, now, image));
                    }
                    write.add(afterByKey.get(k));
                }
                case INSERT -> {
                    if (now != null) {
                        throw RowAccess.dirty(r, k, "no row (the insert was undone)", null, now, List.of());
                    }
                    write.add(image);
                }
                case DELETE -> {
                    if (!rows.same(c, meta, now, image)) {
                        throw RowAccess.dirty(r, k, "the deleted row restored", image, now,
                                now == null ? List.of() : rows.differences(c, meta, now, image));
                    }
                    write.add(image);
                }
                default -> throw new IllegalStateException(r.op().name());
            }
        }
        switch (r.op()) {
            case UPDATE -> rows.updateRows(c, meta, write);
            case INSERT -> rows.insertRows(c, meta, write);
            case DELETE -> rows.deleteRows(c, meta, write);
            default -> throw new IllegalStateException(r.op().name());
        }
    }
}
