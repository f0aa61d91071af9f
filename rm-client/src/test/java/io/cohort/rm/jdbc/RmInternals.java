package io.cohort.rm.jdbc;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.rm.UndoLogFormat;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * What the RM's end-to-end tests (package {@code io.cohort.rm}) reach inside {@code io.cohort.rm.jdbc}
 * for, now that the engine is package-private: a phase-2 command handed to the RM as if from the
 * TC, a rollback the RM does alone, {@code undo_log.log_status} codes, and an undo log altered as
 * someone with access to the database could. Test code only: not part of rm-client.jar.
 */
public final class RmInternals {

    /** {@code undo_log.log_status} values ({@link UndoLogStatus} codes). */
    public static final int TWO_PHASE = UndoLogStatus.TWO_PHASE.code();
    public static final int ROLLBACK_MARKER = UndoLogStatus.ROLLBACK_MARKER.code();
    public static final int THREE_PHASE = UndoLogStatus.THREE_PHASE.code();
    public static final int PRE_COMMITTED = UndoLogStatus.PRE_COMMITTED.code();
    public static final int ROLLED_BACK_ALONE = UndoLogStatus.ROLLED_BACK_ALONE.code();
    public static final int COMMITTED_ALONE = UndoLogStatus.COMMITTED_ALONE.code();

    private RmInternals() {
    }

    /** {@code command} handled by {@code rm} as if it came from the TC's command stream. */
    public static BranchResult handle(ResourceManager rm, BranchCommand command) {
        return rm.handler().handle(command);
    }

    /** One batch of commands, as one message from the TC brings it; answers in order. */
    public static List<BranchResult> handle(ResourceManager rm, List<BranchCommand> batch) {
        return rm.handler().handle(batch);
    }

    /** Whether a message of just {@code command} is answered on the command stream's network thread. */
    public static boolean answeredAtOnce(ResourceManager rm, BranchCommand command) {
        return rm.handler().answerAtOnce(List.of(command)) != null;
    }

    /** What a check of the undo logs for leftovers found, in rows ({@code null}: it could not finish). */
    public record LeftoverCheck(int deleted, int expired, int inProgress, int unknownToTc) {
    }

    /** Checks {@code resourceId}'s two-phase undo logs against the TC now, as the RM does soon after start. */
    public static LeftoverCheck checkLeftoverUndoLogs(ResourceManager rm, String resourceId) {
        AsyncUndoDeleter.LeftoverCheck c = rm.checkLeftoverUndoLogs().get(resourceId);
        return c == null ? null : new LeftoverCheck(c.deleted(), c.expired(), c.inProgress(), c.unknownToTc());
    }

    /** What applying a branch's images came to. */
    public record Applied(BranchStatus status, String reason) {
    }

    /**
     * Applies undo log {@code info} backward on {@code c} (the caller's transaction), without the
     * check of the tables recorded at the TC, as for a rollback the RM does alone.
     */
    public static Applied rollBackImages(ResourceManager rm, String resourceId, Connection c, String xid, long branchId,
                                         byte[] info) throws SQLException {
        ImageApplier.Outcome o = rm.resource(resourceId).images().apply(c, xid, branchId, info,
                ImageApplier.Direction.BACKWARD, null);
        return new Applied(o.status(), o.reason());
    }

    /** Undo log {@code info} with every record naming {@code table} instead. */
    public static byte[] withTable(byte[] info, String table) {
        return rewrite(info, r -> new UndoRecord(r.op(), r.schema(), table, r.columns(), r.primaryKey(), r.before(),
                r.after()));
    }

    /** Undo log {@code info} with {@code column} set to {@code value} in every before image. */
    public static byte[] withBeforeValue(byte[] info, String column, String value) {
        return rewrite(info, r -> new UndoRecord(r.op(), r.schema(), r.table(), r.columns(), r.primaryKey(),
                r.before().stream().map(row -> with(row, r, column, value)).toList(), r.after()));
    }

    private static byte[] rewrite(byte[] info, UnaryOperator<UndoRecord> change) {
        // written back in the form it was read in
        UndoLogFormat format = info[0] == 'J' || info[0] == 'Z' ? UndoLogFormat.JSON : UndoLogFormat.BINARY;
        UndoCodec codec = new UndoCodec(Integer.MAX_VALUE, 1 << 24, format);
        return codec.encode(codec.decode(info).stream().map(change).toList());
    }

    private static String[] with(String[] row, UndoRecord r, String column, String value) {
        String[] out = Arrays.copyOf(row, row.length);
        boolean found = false;
        for (int i = 0; i < r.columns().size(); i++) {
            if (r.columns().get(i).name().equals(column)) {
                out[i] = value;
                found = true;
            }
        }
        if (!found) {
            throw new IllegalArgumentException("table " + r.table() + " has no column " + column + " in its undo log");
        }
        return out;
    }
}
