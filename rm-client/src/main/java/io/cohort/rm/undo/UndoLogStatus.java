package io.cohort.rm.undo;

/**
 * The {@code log_status} values of an undo_log row (sql/rm/postgresql.sql explains each). The
 * numbers are stored in users' databases: never renumber or reuse one.
 */
public final class UndoLogStatus {

    /** Undo log of a two-phase branch: the RM never finishes it on its own. */
    public static final int TWO_PHASE = 0;
    /** Written by a rollback that found no undo log, so a late phase 1 can never commit. */
    public static final int ROLLBACK_MARKER = 1;
    /** Undo log of a three-phase branch that has not seen PreCommit: on its own the RM would roll it back. */
    public static final int THREE_PHASE = 2;
    /** Three-phase branch that saw PreCommit (or heard the decision is commit): on its own the RM would commit it. */
    public static final int PRE_COMMITTED = 3;
    /** Rolled back by this RM on its own; the undo log is kept so the TC can redo it from the after image. */
    public static final int ROLLED_BACK_ALONE = 4;
    /** Committed by this RM on its own; the undo log is emptied, the row kept so a rollback is refused clearly. */
    public static final int COMMITTED_ALONE = 5;

    private UndoLogStatus() {
    }

    public static String describe(int status) {
        return switch (status) {
            case TWO_PHASE -> "two-phase undo log";
            case ROLLBACK_MARKER -> "rolled back";
            case THREE_PHASE -> "three-phase, waiting for PreCommit";
            case PRE_COMMITTED -> "three-phase, pre-committed";
            case ROLLED_BACK_ALONE -> "rolled back by this RM on its own";
            case COMMITTED_ALONE -> "committed by this RM on its own";
            default -> "unknown log_status " + status;
        };
    }
}
