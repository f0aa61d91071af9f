package io.cohort.rm.jdbc;

import io.cohort.protocol.BranchStatus;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies the images of an undo log to the current rows, in one of two directions, on the caller's
 * connection and in the caller's transaction (never touching the undo-log row itself):
 * <ul>
 *   <li>{@link Direction#BACKWARD} (rollback): each statement undone, last first — the rows leave
 *       the after image for the before image (an inserted row goes, a deleted row comes back). A row
 *       already holding the before image is left as it is;</li>
 *   <li>{@link Direction#FORWARD} (the TC's REDO of a branch this RM rolled back on its own while the
 *       outcome was commit): each statement written again, in order. The global locks were held all
 *       along, so every row must still hold its before image.</li>
 * </ul>
 * Each row is locked and compared with the image it should hold first; anything else is a dirty
 * write: nothing is written, the outcome carries the evidence, and the caller rolls back. Also
 * {@link #verifyAfterImages}, the three-phase vote's check.
 */
final class ImageApplier {

    private static final Logger log = LoggerFactory.getLogger(ImageApplier.class);

    /** SQLSTATE class 22: a value the database cannot take. */
    private static final String DATA_EXCEPTION = "22";

    /** A question for the database. */
    @FunctionalInterface
    interface SqlCheck {
        boolean holds() throws SQLException;
    }

    /** How applying an undo log ended. */
    record Outcome(BranchStatus status, String reason) {
    }

    /** Which way the images are applied, and what each ending means to the TC. */
    enum Direction {
        BACKWARD(BranchStatus.PHASE2_ROLLBACKED, BranchStatus.PHASE2_ROLLBACK_FAILED_DIRTY,
                BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, "undone", "after image"),
        FORWARD(BranchStatus.PHASE2_COMMITTED, BranchStatus.PHASE2_COMMIT_FAILED_UNRETRYABLE,
                BranchStatus.PHASE2_COMMIT_FAILED_UNRETRYABLE, "redone", "before image");

        private final BranchStatus done;
        private final BranchStatus dirty;
        private final BranchStatus unretryable;
        private final String verb;
        /** What a row the branch wrote (or overwrote) must hold before this direction writes it. */
        private final String expectedImage;

        Direction(BranchStatus done, BranchStatus dirty, BranchStatus unretryable, String verb, String expectedImage) {
            this.done = done;
            this.dirty = dirty;
            this.unretryable = unretryable;
            this.verb = verb;
            this.expectedImage = expectedImage;
        }

        /** The status of a branch whose images were all applied. */
        BranchStatus done() {
            return done;
        }
    }

    private final UndoCodec codec;
    private final RowAccess rows;

    ImageApplier(Dialect dialect, UndoCodec codec) {
        this.codec = codec;
        this.rows = new RowAccess(dialect);
    }

    /**
     * Applies the undo log {@code info} of branch {@code branchId} of {@code xid} in {@code direction}.
     * {@link Direction#done}, or a dirty write, an unreadable or refused log (the caller must then roll
     * back its transaction, so nothing of it stays applied).
     *
     * @param tables the tables the branch wrote as the TC recorded them ({@link BranchData}); an undo
     *               log naming any other is refused. Null: not recorded (an older RM, or no TC command at hand), not checked
     * @throws SQLException a database error other than a value it cannot take: worth retrying
     */
    Outcome apply(Connection c, String xid, long branchId, byte[] info, Direction direction, Set<String> tables)
            throws SQLException {
        List<UndoRecord> records;
        try {
            records = codec.decode(info);
        } catch (UndoFormatException e) {
            return unreadable(xid, branchId, direction, e);
        }
        return apply(c, xid, branchId, records, direction, tables);
    }

    /**
     * The TC's ROLLBACK of a branch whose images the TC held ({@link BranchData}): there is no
     * undo-log row to say whether the branch's local commit happened, so its rows say it, read under
     * lock. A local commit still in flight holds the locks of the rows it wrote (updated, deleted, or
     * inserted where the database's locking read waits for an insert in flight, see
     * {@link Dialect#lockingReadWaitsForInsertsInFlight}), so the read waits for it to end. Every row
     * as the branch found it: its local commit never happened (or was undone already), nothing to do.
     * Otherwise the images are applied backward as from an undo-log row, which finds a row that holds
     * neither image dirty. The rows cannot have moved in between for another global transaction: the
     * TC keeps the branch's global locks until this rollback is answered.
     *
     * @param stillNoUndoLogRow asked once the rows are locked, so once the branch's local commit has
     *                          ended: whether it left no undo-log row (a three-phase branch writes one
     *                          although the TC holds its images). If it did, null: nothing is written,
     *                          and the caller rolls back from that row instead
     */
    Outcome undoImagesHeldByTc(Connection c, String xid, long branchId, byte[] info, Set<String> tables,
                               SqlCheck stillNoUndoLogRow) throws SQLException {
        List<UndoRecord> records;
        try {
            records = codec.decode(info);
        } catch (UndoFormatException e) {
            return unreadable(xid, branchId, Direction.BACKWARD, e);
        }
        boolean asFound = asTheBranchFoundThem(c, records);
        if (!stillNoUndoLogRow.holds()) {
            return null;
        }
        if (asFound) {
            return new Outcome(Direction.BACKWARD.done, "every row as the branch found it: its local commit did not"
                    + " happen (or it was undone already), nothing to undo");
        }
        return apply(c, xid, branchId, records, Direction.BACKWARD, tables);
    }

    /**
     * Whether every row {@code records} wrote holds what the branch found before its first statement
     * on it (no row, before an INSERT), read with locks held until the caller's transaction ends.
     */
    private boolean asTheBranchFoundThem(Connection c, List<UndoRecord> records) throws SQLException {
        Set<String> seen = new HashSet<>();
        for (UndoRecord r : records) {
            TableMeta meta = rows.metaOf(c, r);
            int[] pk = meta.primaryKeyIndexes();
            boolean existed = r.op() != UndoRecord.Op.INSERT;
            List<String[]> firstWritten = new ArrayList<>();
            for (String[] image : existed ? r.before() : r.after()) {
                if (seen.add(r.schema() + "." + r.table() + ":" + RowAccess.key(image, pk))) {
                    firstWritten.add(image);
                }
            }
            if (firstWritten.isEmpty()) {
                continue;
            }
            List<String[]> current = rows.currentRows(c, meta, firstWritten, true);
            for (int i = 0; i < firstWritten.size(); i++) {
                if (!holds(c, meta, current.get(i), existed ? firstWritten.get(i) : null)) {
                    return false;
                }
            }
        }
        return true;
    }

    private static Outcome unreadable(String xid, long branchId, Direction direction, UndoFormatException e) {
        log.error("Undo log of branch {} of {} cannot be read: {}", branchId, xid, e.getMessage());
        return new Outcome(direction.unretryable, "undo log unreadable, cannot be " + direction.verb + ": "
                + e.getMessage());
    }

    private Outcome apply(Connection c, String xid, long branchId, List<UndoRecord> records, Direction direction,
                          Set<String> tables) throws SQLException {
        if (tables != null) {
            for (UndoRecord r : records) {
                // Quoted with control characters escaped: the name comes from the row under suspicion.
                String table = BranchData.name(r.schema(), r.table()).replaceAll("\\p{Cntrl}", "?");
                if (!tables.contains(table)) {
                    String why = "the undo log of branch " + branchId + " of " + xid + " names table '" + table
                            + "', which the branch did not write (it wrote " + String.join(", ", tables) + ", as the TC"
                            + " recorded at phase 1): rollback refused, nothing changed; the undo_log row may have been"
                            + " altered: check it, then roll back by hand";
                    log.error("Rollback refused: {}", why);
                    return new Outcome(direction.unretryable, why);
                }
            }
        }
        try {
            if (direction == Direction.BACKWARD) {
                for (int i = records.size() - 1; i >= 0; i--) {
                    apply(c, records.get(i), direction);
                }
            } else {
                for (UndoRecord r : records) {
                    apply(c, r, direction);
                }
            }
        } catch (DirtyWriteException e) {
            String why = direction == Direction.BACKWARD ? e.getMessage() : "cannot redo branch " + branchId + " of " + xid
                    + ": the rows changed after this RM rolled it back on its own; data left untouched for a person to"
                    + " check: " + e.getMessage();
            log.error("Dirty write found applying the undo log of branch {} of {} {}; data left untouched for a person"
                    + " to check: {}", branchId, xid, direction, e.getMessage());
            return new Outcome(direction.dirty, why);
        } catch (SQLException e) {
            if (e.getSQLState() == null || !e.getSQLState().startsWith(DATA_EXCEPTION)) {
                throw e;
            }
            return cannotApply(xid, branchId, direction, e);
        } catch (RuntimeException e) {
            return cannotApply(xid, branchId, direction, e);
        }
        return new Outcome(direction.done, direction.verb + " " + records.size() + " statement(s)");
    }

    /**
     * A value the database will not take (data exception) or one this code cannot handle (a runtime
     * exception): an altered or damaged undo-log row, which fails the same way on every retry.
     */
    private static Outcome cannotApply(String xid, long branchId, Direction direction, Exception e) {
        String why = "the undo log of branch " + branchId + " of " + xid + " cannot be applied: " + e
                + "; nothing changed; check the undo_log row, then finish the branch by hand";
        log.error("Applying an undo log {} failed: {}", direction, why);
        return new Outcome(direction.unretryable, why);
    }

    /**
     * One statement's rows moved from one side of its images to the other. A side is a row image or
     * no row at all (before an INSERT, after a DELETE): the rows the statement found, or left.
     */
    private void apply(Connection c, UndoRecord r, Direction direction) throws SQLException, DirtyWriteException {
        TableMeta meta = rows.metaOf(c, r);
        int[] pk = meta.primaryKeyIndexes();
        boolean backward = direction == Direction.BACKWARD;
        // The sides the rows move from and to; null: no row on that side.
        List<String[]> from = backward ? present(r.after(), r.op() != UndoRecord.Op.DELETE)
                : present(r.before(), r.op() != UndoRecord.Op.INSERT);
        List<String[]> to = backward ? present(r.before(), r.op() != UndoRecord.Op.INSERT)
                : present(r.after(), r.op() != UndoRecord.Op.DELETE);
        List<String[]> images = from != null ? from : to;
        List<String[]> current = rows.currentRows(c, meta, images, true);
        // Both images of one statement were read in one session: their key texts match.
        Map<String, String[]> toByKey = new HashMap<>();
        if (from != null && to != null) {
            for (String[] t : to) {
                toByKey.put(RowAccess.key(t, pk), t);
            }
        }
        List<String[]> write = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            String[] image = images.get(i);
            String k = RowAccess.key(image, pk);
            String[] now = current.get(i);
            String[] expected = from == null ? null : image;
            String[] target = to == null ? null : from == null ? image : toByKey.get(k);
            if (holds(c, meta, now, expected)) {
                write.add(to == null ? image : target);
            } else if (!backward || !holds(c, meta, now, target)) {
                // Forward, only the before image will do; backward, a row already restored is fine too.
                throw expected == null
                        ? RowAccess.dirty(r, k, "no row", null, now, List.of())
                        : RowAccess.dirty(r, k, direction.expectedImage, expected, now,
                                now == null ? List.of() : rows.differences(c, meta, now, expected));
            }
        }
        if (from != null && to != null) {
            rows.updateRows(c, meta, write);
        } else if (to == null) {
            rows.deleteRows(c, meta, write);
        } else {
            rows.insertRows(c, meta, write);
        }
    }

    /** {@code images} when the side has rows, else null. */
    private static List<String[]> present(List<String[]> images, boolean hasRows) {
        return hasRows ? images : null;
    }

    /** Whether the current row {@code now} (null: none) is {@code side} (null: no row). */
    private boolean holds(Connection c, TableMeta meta, String[] now, String[] side) throws SQLException {
        return side == null ? now == null : rows.same(c, meta, now, side);
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
    String verifyAfterImages(Connection c, byte[] info) throws SQLException {
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
}
