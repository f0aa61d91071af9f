package io.cohort.rm.undo;

import io.cohort.protocol.BranchStatus;
import io.cohort.rm.dialect.Dialect;
import io.cohort.rm.image.TableMeta;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phase-2 rollback of one branch, in one local transaction:
 * <ol>
 *   <li>lock and read the branch's undo-log row;</li>
 *   <li>none: write an empty-rollback marker so a late phase 1 of this branch fails on the unique
 *       key and can never commit; done;</li>
 *   <li>a marker, or a 3PC branch this RM already rolled back on its own: done (the latter becomes
 *       a marker);</li>
 *   <li>a 3PC branch this RM committed on its own: its undo log is gone, so it cannot be undone —
 *       an unretryable failure that says so, never a silent "done";</li>
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

    /** How a rollback (or redo) ended. */
    public record Outcome(BranchStatus status, String reason) {
    }

    /** SQLSTATE class 22: a value the database cannot take. */
    private static final String DATA_EXCEPTION = "22";

    private final UndoCodec codec;
    private final UndoLogTable undoLog;
    private final RowAccess rows;

    public UndoExecutor(Dialect dialect, UndoCodec codec, UndoLogTable undoLog) {
        this.codec = codec;
        this.undoLog = undoLog;
        this.rows = new RowAccess(dialect);
    }

    /**
     * @param tables the tables the branch wrote, as recorded at the TC ({@link BranchTables}); an undo
     *               log naming any other is refused. Null: not recorded (an older RM), not checked
     */
    public Outcome rollback(DataSource dataSource, String xid, long branchId, Set<String> tables) {
        try (Connection c = dataSource.getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                Outcome outcome = rollback(c, xid, branchId, tables);
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

    private Outcome rollback(Connection c, String xid, long branchId, Set<String> tables) throws SQLException {
        for (int attempt = 0; attempt < 3; attempt++) {
            UndoLogTable.Row row;
            try {
                row = undoLog.lock(c, xid, branchId);
            } catch (UndoLogTable.UnknownStatusException e) {
                return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, e.getMessage());
            }
            if (row == null) {
                if (undoLog.insertMarker(c, xid, branchId)) {
                    return new Outcome(BranchStatus.PHASE2_ROLLBACKED,
                            "no undo log: the branch never committed locally; marker written so it never will");
                }
                continue; // A phase 1 of this branch committed between our read and our insert: read again.
            }
            switch (row.status()) {
                case ROLLBACK_MARKER -> {
                    return new Outcome(BranchStatus.PHASE2_ROLLBACKED, "already rolled back");
                }
                case ROLLED_BACK_ALONE -> {
                    // The TC agrees with what this RM did alone: nothing will be redone, keep only a marker.
                    undoLog.move(c, xid, branchId, row.status(), UndoLogStatus.ROLLBACK_MARKER);
                    return new Outcome(BranchStatus.PHASE2_ROLLBACKED, "already rolled back by this RM on its own");
                }
                case COMMITTED_ALONE -> {
                    String why = "branch " + branchId + " of " + xid + " was committed by this RM on its own (three-phase"
                            + " termination after it had seen PreCommit) and its undo log is gone: it cannot be rolled"
                            + " back; compensate it by hand (the RM's decision table says when and why)";
                    log.error("Rollback refused: {}", why);
                    return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, why);
                }
                case TWO_PHASE, THREE_PHASE, PRE_COMMITTED -> {
                    Outcome outcome = undo(c, xid, branchId, row.rollbackInfo(), tables);
                    if (outcome.status() == BranchStatus.PHASE2_ROLLBACKED) {
                        undoLog.delete(c, xid, branchId);
                    }
                    return outcome;
                }
            }
        }
        return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE, "undo log row kept changing; try again");
    }

    /**
     * Restores the before images of an undo log on {@code c}, in the caller's transaction, without
     * touching the undo-log row. PHASE2_ROLLBACKED, or a dirty write / unreadable or refused log
     * (the caller must then roll back its transaction, so nothing of it stays applied).
     *
     * @param tables the tables the branch wrote as the TC recorded them, or null (not checked)
     */
    public Outcome undo(Connection c, String xid, long branchId, byte[] info, Set<String> tables) throws SQLException {
        List<UndoRecord> records;
        try {
            records = codec.decode(info);
        } catch (UndoFormatException e) {
            log.error("Undo log of branch {} of {} cannot be read: {}", branchId, xid, e.getMessage());
            return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, "undo log unreadable: " + e.getMessage());
        }
        if (tables != null) {
            for (UndoRecord r : records) {
                // Quoted with control characters escaped: the name comes from the row under suspicion.
                String table = BranchTables.name(r.schema(), r.table()).replaceAll("\\p{Cntrl}", "?");
                if (!tables.contains(table)) {
                    String why = "the undo log of branch " + branchId + " of " + xid + " names table '" + table
                            + "', which the branch did not write (it wrote " + String.join(", ", tables) + ", as the TC"
                            + " recorded at phase 1): rollback refused, nothing changed; the undo_log row may have been"
                            + " altered: check it, then roll back by hand";
                    log.error("Rollback refused: {}", why);
                    return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, why);
                }
            }
        }
        try {
            for (int i = records.size() - 1; i >= 0; i--) {
                undo(c, records.get(i));
            }
        } catch (DirtyWriteException e) {
            log.error("Dirty write found rolling back branch {} of {}; data left untouched for a person to check: {}",
                    branchId, xid, e.getMessage());
            return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_DIRTY, e.getMessage());
        } catch (SQLException e) {
            if (e.getSQLState() == null || !e.getSQLState().startsWith(DATA_EXCEPTION)) {
                throw e;
            }
            return cannotApply(xid, branchId, e);
        } catch (RuntimeException e) {
            return cannotApply(xid, branchId, e);
        }
        return new Outcome(BranchStatus.PHASE2_ROLLBACKED, "undone " + records.size() + " statement(s)");
    }

    /**
     * A value the database will not take (data exception) or one this code cannot handle (a runtime
     * exception): an altered or damaged undo-log row, which fails the same way on every retry.
     */
    private static Outcome cannotApply(String xid, long branchId, Exception e) {
        String why = "the undo log of branch " + branchId + " of " + xid + " cannot be applied: " + e
                + "; nothing changed; check the undo_log row, then roll back by hand";
        log.error("Rollback failed: {}", why);
        return new Outcome(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, why);
    }

    private void undo(Connection c, UndoRecord r) throws SQLException, DirtyWriteException {
        TableMeta meta = rows.metaOf(c, r);
        int[] pk = meta.primaryKeyIndexes();
        List<String[]> images = r.op() == UndoRecord.Op.DELETE ? r.before() : r.after();
        List<String[]> current = rows.currentRows(c, meta, images, true);
        // Before and after images of one statement were read in one session: their key texts match.
        Map<String, String[]> beforeByKey = new HashMap<>();
        for (String[] b : r.before()) {
            beforeByKey.put(RowAccess.key(b, pk), b);
        }
        List<String[]> restore = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            String[] image = images.get(i);
            String[] now = current.get(i);
            switch (r.op()) {
                case UPDATE -> {
                    String[] before = beforeByKey.get(RowAccess.key(image, pk));
                    if (rows.same(c, meta, now, image)) {
                        restore.add(before);
                    } else if (!rows.same(c, meta, now, before)) {
                        throw RowAccess.dirty(r, RowAccess.key(image, pk), "after image", image, now,
                                now == null ? List.of() : rows.differences(c, meta, now, image));
                    }
                }
                case INSERT -> {
                    if (rows.same(c, meta, now, image)) {
                        restore.add(image);
                    } else if (now != null) {
                        throw RowAccess.dirty(r, RowAccess.key(image, pk), "inserted row", image, now,
                                rows.differences(c, meta, now, image));
                    }
                }
                case DELETE -> {
                    if (now == null) {
                        restore.add(image);
                    } else if (!rows.same(c, meta, now, image)) {
                        throw RowAccess.dirty(r, RowAccess.key(image, pk), "no row (deleted)", null, now, List.of());
                    }
                }
                default -> throw new IllegalStateException(r.op().name());
            }
        }
        switch (r.op()) {
            case UPDATE -> rows.updateRows(c, meta, restore);
            case INSERT -> rows.deleteRows(c, meta, restore);
            case DELETE -> rows.insertRows(c, meta, restore);
            default -> throw new IllegalStateException(r.op().name());
        }
    }

    static void safeRollback(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the connection is broken; closing it ends the transaction
        }
    }
}
