package io.cohort.rm.jdbc;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The one owner of the RM's rows in the application's database: the undo log ({@code undo_log}, one
 * row per branch, its {@link UndoLogStatus}) and the three-phase decision table. Every read and
 * write of them goes through here, on the caller's connection and in the caller's transaction; the
 * SQL is written once, with only what differs between databases asked of the {@link Dialect}.
 * A status move is checked against {@link UndoLogStatus#mayMoveTo}: a move the table does not allow
 * is a bug, refused before it reaches the database.
 */
final class UndoLogTable {

    /** An undo-log row read under lock: the encoded records ({@link UndoCodec}) and the status. */
    record Row(byte[] rollbackInfo, UndoLogStatus status) {
    }

    /** A branch whose undo-log row is three-phase and heard nothing from the TC for a while. */
    record Quiet(String xid, long branchId, UndoLogStatus status) {
    }

    /** A branch, by its keys in both tables. */
    record Branch(String xid, long branchId) {
    }

    /** A decision of the RM on its own that the TC has not heard of. */
    record Decision(String xid, long branchId, boolean committed, String reason) {
    }

    /** Length limit of {@code cohort_branch_decision.reason}. */
    private static final int MAX_REASON = 2000;
    private static final byte[] EMPTY = new byte[0];

    private final Dialect dialect;
    private final String undoTable;
    private final String insert;
    /** The insert then COMMIT in one round trip, or null where the dialect cannot. */
    private final String insertThenCommit;
    /** Re-keys and sets the status of an undo log inserted before its registration was answered. */
    private final String finish;
    private final String selectForUpdate;
    /** CanCommit's write on rows holding images: the keys are appended ({@link #branchKeys}). */
    private final String stampVotePrefix;
    /** The rollback info of rows holding images, for {@link #stampVotes} where UPDATE cannot return it. */
    private final String selectImagesPrefix;
    /** PreCommit's write on rows holding images: the keys are appended. */
    private final String preCommitPrefix;
    private final String insertMarker;
    private final String delete;
    private final String deleteOldMarkers;
    private final String setStatus;
    private final String emptyAndSetStatus;
    private final String touch;
    private final String holdsImages;
    private final String selectQuiet;
    private final String selectDecidedAlone;
    private final String selectTwoPhaseAfter;
    private final String deleteTwoPhase;
    private final String deleteTwoPhaseWrittenBefore;
    private final String deleteCommittedPrefix;
    private final String insertDecision;
    private final String selectDecisionReason;
    private final String selectUnreported;
    private final String markReported;
    private final String deleteOldDecisions;

    UndoLogTable(Dialect dialect, String undoTable, String decisionTable) {
        this.dialect = dialect;
        this.undoTable = undoTable;
        String branch = " WHERE xid = ? AND branch_id = ?";
        insert = "INSERT INTO " + undoTable + " (xid, branch_id, rollback_info, log_status, created, updated)"
                + " VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP(6), CURRENT_TIMESTAMP(6))";
        insertThenCommit = dialect.thenCommit(insert);
        finish = "UPDATE " + undoTable + " SET branch_id = ?, log_status = ?" + branch;
        selectForUpdate = "SELECT rollback_info, log_status FROM " + undoTable + branch + " FOR UPDATE";
        // CanCommit and PreCommit move (or only stamp) every row holding images without a look at anything
        // else (UndoLogStatus.next): a two-phase row learns at CanCommit that it is three-phase.
        String holding = " WHERE log_status IN (" + codes(imageHolding()) + ") AND ";
        String byKeys = dialect.undoLogByBranchKeys(undoTable);
        stampVotePrefix = "UPDATE " + byKeys + " SET log_status = CASE WHEN log_status = "
                + UndoLogStatus.TWO_PHASE.code() + " THEN " + UndoLogStatus.THREE_PHASE.code()
                + " ELSE log_status END, updated = CURRENT_TIMESTAMP(6)" + holding;
        selectImagesPrefix = "SELECT xid, branch_id, rollback_info FROM " + byKeys + holding;
        preCommitPrefix = "UPDATE " + byKeys + " SET log_status = " + UndoLogStatus.PRE_COMMITTED.code()
                + ", updated = CURRENT_TIMESTAMP(6)" + holding;
        insertMarker = dialect.insertUnlessDuplicate(undoTable, "xid, branch_id, rollback_info, log_status, created, updated",
                "?, ?, ?, " + UndoLogStatus.ROLLBACK_MARKER.code() + ", CURRENT_TIMESTAMP(6), CURRENT_TIMESTAMP(6)");
        delete = "DELETE FROM " + undoTable + branch;
        deleteOldMarkers = "DELETE FROM " + undoTable + " WHERE log_status = " + UndoLogStatus.ROLLBACK_MARKER.code()
                + " AND created < ?";
        // Every status write stamps updated: the last word from the TC, the three-phase termination timer.
        setStatus = "UPDATE " + undoTable + " SET log_status = ?, updated = CURRENT_TIMESTAMP(6)" + branch;
        emptyAndSetStatus = "UPDATE " + undoTable + " SET log_status = ?, rollback_info = ?, updated = CURRENT_TIMESTAMP(6)"
                + branch;
        touch = "UPDATE " + undoTable + " SET updated = CURRENT_TIMESTAMP(6)" + branch;
        holdsImages = "SELECT 1 FROM " + undoTable + branch + " AND log_status IN (" + codes(imageHolding()) + ")";
        // The literal lower bound lets the database use the partial index on three-phase rows (sql/rm/*.sql).
        selectQuiet = "SELECT xid, branch_id, log_status FROM " + undoTable + " WHERE log_status >= "
                + UndoLogStatus.THREE_PHASE.code() + " AND updated < " + dialect.millisecondsAgo()
                + " ORDER BY updated LIMIT ?";
        selectDecidedAlone = "SELECT xid, branch_id FROM " + undoTable + " WHERE log_status IN ("
                + UndoLogStatus.ROLLED_BACK_ALONE.code() + ", " + UndoLogStatus.COMMITTED_ALONE.code() + ")";
        // Walks the two-phase rows in key order from where the last batch ended: a row left in place is read once.
        selectTwoPhaseAfter = "SELECT xid, branch_id FROM " + undoTable + " WHERE (xid > ? OR xid = ? AND branch_id > ?)"
                + " AND log_status = " + UndoLogStatus.TWO_PHASE.code() + " AND created < " + dialect.millisecondsAgo()
                + " ORDER BY xid, branch_id LIMIT ?";
        deleteTwoPhase = delete + " AND log_status = " + UndoLogStatus.TWO_PHASE.code();
        deleteTwoPhaseWrittenBefore = deleteTwoPhase + " AND created < " + dialect.millisecondsAgo();
        deleteCommittedPrefix = dialect.deleteFromUndoLogByBranchKeys(undoTable) + " WHERE log_status IN ("
                + codes(imageHolding()) + ") AND ";
        insertDecision = dialect.insertUnlessDuplicate(decisionTable, "xid, branch_id, decision, reason, decided_at",
                "?, ?, ?, ?, CURRENT_TIMESTAMP(6)");
        selectDecisionReason = "SELECT reason FROM " + decisionTable + branch;
        selectUnreported = "SELECT xid, branch_id, decision, reason FROM " + decisionTable + " WHERE reported_at IS NULL";
        markReported = "UPDATE " + decisionTable + " SET reported_at = CURRENT_TIMESTAMP(6)" + branch
                + " AND reported_at IS NULL";
        deleteOldDecisions = "DELETE FROM " + decisionTable + " WHERE reported_at < ?";
    }

    private static List<UndoLogStatus> imageHolding() {
        List<UndoLogStatus> holding = new ArrayList<>();
        for (UndoLogStatus s : UndoLogStatus.values()) {
            if (s.holdsImages()) {
                holding.add(s);
            }
        }
        return holding;
    }

    private static String codes(List<UndoLogStatus> statuses) {
        StringBuilder sb = new StringBuilder();
        for (UndoLogStatus s : statuses) {
            sb.append(sb.isEmpty() ? "" : ", ").append(s.code());
        }
        return sb.toString();
    }

    // ---- the undo log ----

    /**
     * Whether the dialect sends the undo-log insert and the COMMIT in one round trip
     * ({@link #insertAndCommit}). Where it cannot, the RM inserts while the registration is in
     * flight instead ({@link #insert}, {@link #commitInserted}): both leave one round trip after
     * the TC's answer, and on PostgreSQL the single round trip costs the server less CPU per branch
     * than a separate insert.
     */
    boolean insertsWithCommit() {
        return insertThenCommit != null;
    }

    /**
     * Phase 1's last step, once the TC registered the branch: its undo log inserted, as {@code status}
     * (two- or three-phase), in the local transaction of its data, and that transaction committed —
     * in one round trip ({@link Dialect#thenCommit}; see {@link #insertsWithCommit}). A unique-key
     * violation ({@link Dialect#isUniqueViolation}) means a rollback got there first and left its
     * marker. On any failure the caller cannot tell the insert's from the commit's: it must roll
     * back, then look for the undo log ({@link #holdsImages}) to learn whether the branch committed.
     */
    void insertAndCommit(Connection c, String xid, long branchId, byte[] rollbackInfo, UndoLogStatus status)
            throws SQLException {
        if (!status.holdsImages()) {
            throw new IllegalArgumentException("a branch's undo log is written as two- or three-phase, not " + status);
        }
        try (PreparedStatement ps = c.prepareStatement(insertThenCommit != null ? insertThenCommit : insert)) {
            bind(ps, xid, branchId);
            ps.setBytes(3, rollbackInfo);
            ps.setInt(4, status.code());
            ps.executeUpdate();
        }
        c.commit(); // after insertThenCommit the driver sends nothing; pools see the transaction end
    }

    /**
     * Phase 1 where the insert cannot ride with the COMMIT: the branch's undo log inserted as a
     * two-phase branch under the id the RM chose, in the local transaction of its data, not
     * committed — sent while the registration is in flight. {@link #commitInserted} ends it. A
     * unique-key violation means a rollback of this branch left its marker first.
     */
    void insert(Connection c, String xid, long branchId, byte[] rollbackInfo) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(insert)) {
            bind(ps, xid, branchId);
            ps.setBytes(3, rollbackInfo);
            ps.setInt(4, UndoLogStatus.TWO_PHASE.code());
            ps.executeUpdate();
        }
    }

    /**
     * After {@link #insert}, once the TC registered the branch: the undo log inserted as
     * {@code insertedId} takes the id the TC answered (a TC older than minor 7 assigns its own) and
     * {@code status} (a three-phase branch is marked as such in its own database, so its
     * termination timer survives a restart), and the local transaction commits — a plain COMMIT
     * when nothing changes. On any failure the caller must roll back, then look for the undo log.
     */
    void commitInserted(Connection c, String xid, long insertedId, long branchId, UndoLogStatus status)
            throws SQLException {
        if (!status.holdsImages()) {
            throw new IllegalArgumentException("a branch's undo log is written as two- or three-phase, not " + status);
        }
        if (insertedId != branchId || status != UndoLogStatus.TWO_PHASE) {
            try (PreparedStatement ps = c.prepareStatement(finish)) {
                ps.setLong(1, branchId);
                ps.setInt(2, status.code());
                ps.setString(3, xid);
                ps.setLong(4, insertedId);
                ps.executeUpdate();
            }
        }
        c.commit();
    }

    /**
     * The insert of a branch's undo log formed in SQL, for a statement that writes it together with
     * its data ({@link Dialect#updateWritingUndoLog}): one row, {@code rollbackInfo} an expression over
     * {@code source} (an aggregate, so that a source without rows still writes the log). Its three
     * parameters, in order: xid, branch id, log_status ({@link UndoLogStatus#code}).
     */
    String insertFormedFrom(String rollbackInfo, String source) {
        return "INSERT INTO " + undoTable + " (xid, branch_id, rollback_info, log_status, created, updated) SELECT ?, ?, "
                + rollbackInfo + ", ?, CURRENT_TIMESTAMP(6), CURRENT_TIMESTAMP(6) FROM " + source;
    }

    /** The branch's row, locked until the caller's transaction ends; null when there is none. */
    Row lock(Connection c, String xid, long branchId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(selectForUpdate)) {
            bind(ps, xid, branchId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return null;
                }
                byte[] info = rs.getBytes(1);
                int code = rs.getInt(2);
                UndoLogStatus status = UndoLogStatus.ofCode(code);
                if (status == null) {
                    throw new UnknownStatusException("undo log of branch " + branchId + " of " + xid
                            + " has an unknown log_status " + code);
                }
                return new Row(info, status);
            }
        }
    }

    /**
     * CanCommit's write, in one statement, on the branches {@code xids[i]}, {@code branchIds[i]} whose
     * rows hold images ({@link UndoLogStatus#holdsImages}): each stamped, a two-phase one moved to
     * THREE_PHASE, and locked until the caller's transaction ends. Returns their rollback info by
     * branch (returned by the UPDATE itself where the database can, else read after it); a branch
     * missing from it has no such row.
     */
    Map<Branch, byte[]> stampVotes(Connection c, String[] xids, long[] branchIds) throws SQLException {
        Map<Branch, byte[]> infos = new HashMap<>();
        String keys = branchKeys(xids.length);
        if (dialect.hasReturning()) {
            try (PreparedStatement ps = c.prepareStatement(stampVotePrefix + keys + " RETURNING xid, branch_id, rollback_info")) {
                bindKeys(c, ps, xids, branchIds);
                readImages(ps, infos);
            }
            return infos;
        }
        int stamped;
        try (PreparedStatement ps = c.prepareStatement(stampVotePrefix + keys)) {
            bindKeys(c, ps, xids, branchIds);
            stamped = ps.executeUpdate();
        }
        if (stamped > 0) {
            try (PreparedStatement ps = c.prepareStatement(selectImagesPrefix + keys)) {
                bindKeys(c, ps, xids, branchIds);
                readImages(ps, infos);
            }
        }
        return infos;
    }

    private static void readImages(PreparedStatement ps, Map<Branch, byte[]> infos) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                infos.put(new Branch(rs.getString(1), rs.getLong(2)), rs.getBytes(3));
            }
        }
    }

    /**
     * PreCommit's write, in one statement: the rows of the branches {@code xids[i]},
     * {@code branchIds[i]} that hold images moved to PRE_COMMITTED (stamped). Returns how many moved.
     */
    int preCommitAll(Connection c, String[] xids, long[] branchIds) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(preCommitPrefix + branchKeys(xids.length))) {
            bindKeys(c, ps, xids, branchIds);
            return ps.executeUpdate();
        }
    }

    /** The condition on {@code count} branches' keys: a plain equality for one, which every database plans best. */
    private String branchKeys(int count) {
        return count == 1 ? "xid = ? AND branch_id = ?" : dialect.branchKeysIn(count);
    }

    private void bindKeys(Connection c, PreparedStatement ps, String[] xids, long[] branchIds) throws SQLException {
        if (xids.length == 1) {
            bind(ps, xids[0], branchIds[0]);
        } else {
            dialect.bindBranchKeys(c, ps, 1, xids, branchIds);
        }
    }

    /** Thrown by {@link #lock} for a {@code log_status} no version of the RM writes: an altered row. */
    static final class UnknownStatusException extends SQLException {
        UnknownStatusException(String message) {
            super(message);
        }
    }

    /** The empty-rollback marker, unless the branch has a row: true if written. */
    boolean insertMarker(Connection c, String xid, long branchId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(insertMarker)) {
            bind(ps, xid, branchId);
            ps.setBytes(3, EMPTY);
            return ps.executeUpdate() == 1;
        }
    }

    /** Whether the branch's undo log (with its images) is in the database, as after its phase 1 committed. */
    boolean holdsImages(Connection c, String xid, long branchId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(holdsImages)) {
            bind(ps, xid, branchId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        }
    }

    /**
     * Moves the branch's row, locked by {@link #lock} in this transaction and read as {@code from},
     * to {@code to}, stamping {@code updated}. Committed alone empties the images: they can never be
     * applied again.
     *
     * @throws IllegalStateException if {@link UndoLogStatus#mayMoveTo} does not allow the move
     */
    void move(Connection c, String xid, long branchId, UndoLogStatus from, UndoLogStatus to) throws SQLException {
        if (!from.mayMoveTo(to)) {
            throw new IllegalStateException("undo log of branch " + branchId + " of " + xid + " cannot move from "
                    + from + " (" + from.describe() + ") to " + to + " (" + to.describe() + ")");
        }
        boolean empty = to == UndoLogStatus.COMMITTED_ALONE;
        try (PreparedStatement ps = c.prepareStatement(empty ? emptyAndSetStatus : setStatus)) {
            ps.setInt(1, to.code());
            int next = 2;
            if (empty) {
                ps.setBytes(next++, EMPTY);
            }
            ps.setString(next, xid);
            ps.setLong(next + 1, branchId);
            ps.executeUpdate();
        }
    }

    /**
     * Commits the caller's transaction without waiting for the database to flush it where the
     * database lets one transaction do so ({@link Dialect#commitWithoutFlushWait}, sent with the COMMIT
     * in one round trip), else plainly. Only for writes nothing is promised on: a crash of the
     * database may lose them, and only them and what came after.
     */
    void commitWithoutFlushWait(Connection c) throws SQLException {
        String setting = dialect.commitWithoutFlushWait();
        String sql = setting == null ? null : dialect.thenCommit(setting);
        if (sql != null) {
            try (Statement s = c.createStatement()) {
                s.execute(sql);
            }
        }
        c.commit(); // after the COMMIT sent with the setting the driver sends nothing
    }

    /** Stamps {@code updated}: the TC spoke about the branch, its three-phase termination timer restarts. */
    void touch(Connection c, String xid, long branchId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(touch)) {
            bind(ps, xid, branchId);
            ps.executeUpdate();
        }
    }

    void delete(Connection c, String xid, long branchId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(delete)) {
            bind(ps, xid, branchId);
            ps.executeUpdate();
        }
    }

    /**
     * Deletes, in one statement, the undo logs of the committed branches {@code xids[i]},
     * {@code branchIds[i]} that still hold images (a marker or a row finished alone is kept).
     */
    void deleteCommitted(Connection c, String[] xids, long[] branchIds) throws SQLException {
        if (xids.length == 0) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement(deleteCommittedPrefix + dialect.branchKeysIn(xids.length))) {
            dialect.bindBranchKeys(c, ps, 1, xids, branchIds);
            ps.executeUpdate();
        }
    }

    /** Deletes empty-rollback markers written before {@code cutoff}. */
    void deleteMarkersBefore(Connection c, Timestamp cutoff) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(deleteOldMarkers)) {
            ps.setTimestamp(1, cutoff);
            ps.executeUpdate();
        }
    }

    /** Three-phase rows whose {@code updated} is older than {@code millis} by the database's clock, oldest first. */
    List<Quiet> selectQuiet(Connection c, long millis, int limit) throws SQLException {
        List<Quiet> quiet = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(selectQuiet)) {
            ps.setLong(1, millis);
            ps.setInt(2, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    UndoLogStatus status = UndoLogStatus.ofCode(rs.getInt(3));
                    if (status != null) { // an altered row: its branch's next command says so
                        quiet.add(new Quiet(rs.getString(1), rs.getLong(2), status));
                    }
                }
            }
        }
        return quiet;
    }

    /**
     * Two-phase rows after branch ({@code xid}, {@code branchId}) in key order (from the start: "", 0),
     * written at least {@code millis} ago by the database's clock; at most {@code limit}.
     */
    List<Branch> selectTwoPhaseAfter(Connection c, String xid, long branchId, long millis, int limit)
            throws SQLException {
        List<Branch> rows = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(selectTwoPhaseAfter)) {
            ps.setString(1, xid);
            ps.setString(2, xid);
            ps.setLong(3, branchId);
            ps.setLong(4, millis);
            ps.setInt(5, limit);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(new Branch(rs.getString(1), rs.getLong(2)));
                }
            }
        }
        return rows;
    }

    /** Deletes the branch's row if it is still a two-phase undo log; whether it was. */
    boolean deleteTwoPhase(Connection c, String xid, long branchId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(deleteTwoPhase)) {
            bind(ps, xid, branchId);
            return ps.executeUpdate() > 0;
        }
    }

    /** Deletes the branch's row if it is still a two-phase undo log written at least {@code millis} ago; whether it was. */
    boolean deleteTwoPhaseWrittenBefore(Connection c, String xid, long branchId, long millis) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(deleteTwoPhaseWrittenBefore)) {
            bind(ps, xid, branchId);
            ps.setLong(3, millis);
            return ps.executeUpdate() > 0;
        }
    }

    /** Every branch the RM finished on its own that the TC has not settled. */
    List<Branch> selectDecidedAlone(Connection c) throws SQLException {
        List<Branch> alone = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(selectDecidedAlone); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                alone.add(new Branch(rs.getString(1), rs.getLong(2)));
            }
        }
        return alone;
    }

    // ---- the decision table (three-phase commit: what the RM decided on its own, and why) ----

    /** Records the decision unless the branch has one already; {@code reason} is cut to the column's length. */
    void insertDecision(Connection c, String xid, long branchId, boolean committed, String reason)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(insertDecision)) {
            bind(ps, xid, branchId);
            ps.setString(3, committed ? "COMMITTED" : "ROLLBACKED");
            ps.setString(4, reason.length() <= MAX_REASON ? reason : reason.substring(0, MAX_REASON));
            ps.executeUpdate();
        }
    }

    /** Why the RM decided the branch alone, or a placeholder when no decision is recorded. */
    String decisionReason(Connection c, String xid, long branchId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(selectDecisionReason)) {
            bind(ps, xid, branchId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getString(1) : "(no decision recorded)";
            }
        }
    }

    /** At most {@code limit} decisions the TC has not heard of. */
    List<Decision> selectUnreported(Connection c, int limit) throws SQLException {
        List<Decision> pending = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(selectUnreported); ResultSet rs = ps.executeQuery()) {
            while (rs.next() && pending.size() < limit) {
                pending.add(new Decision(rs.getString(1), rs.getLong(2), rs.getString(3).equals("COMMITTED"),
                        rs.getString(4)));
            }
        }
        return pending;
    }

    void markReported(Connection c, String xid, long branchId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(markReported)) {
            bind(ps, xid, branchId);
            ps.executeUpdate();
        }
    }

    /** Deletes decisions reported before {@code cutoff}. */
    void deleteDecisionsBefore(Connection c, Timestamp cutoff) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(deleteOldDecisions)) {
            ps.setTimestamp(1, cutoff);
            ps.executeUpdate();
        }
    }

    private static void bind(PreparedStatement ps, String xid, long branchId) throws SQLException {
        ps.setString(1, xid);
        ps.setLong(2, branchId);
    }
}
