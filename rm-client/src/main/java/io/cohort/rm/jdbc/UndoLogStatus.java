package io.cohort.rm.jdbc;

import java.util.EnumSet;
import java.util.Set;

/**
 * The {@code log_status} of an undo-log row (sql/rm/postgresql.sql explains each), and the moves
 * between them ({@link #mayMoveTo}). The codes are stored in users' databases: never renumber or
 * reuse one. A row may be deleted from any status (a commit, a rollback, a redo, a retention sweep).
 */
enum UndoLogStatus {

    /** Undo log of a two-phase branch: the RM never finishes it on its own. */
    TWO_PHASE(0, "two-phase undo log"),
    /** Written by a rollback that found no undo log, so a late phase 1 can never commit. */
    ROLLBACK_MARKER(1, "rolled back"),
    /** Undo log of a three-phase branch that has not seen PreCommit: on its own the RM would roll it back. */
    THREE_PHASE(2, "three-phase, waiting for PreCommit"),
    /** Three-phase branch that saw PreCommit (or heard the decision is commit): on its own the RM would commit it. */
    PRE_COMMITTED(3, "three-phase, pre-committed"),
    /** Rolled back by this RM on its own; the undo log is kept so the TC can redo it from the after image. */
    ROLLED_BACK_ALONE(4, "rolled back by this RM on its own"),
    /** Committed by this RM on its own; the undo log is emptied, the row kept so a rollback is refused clearly. */
    COMMITTED_ALONE(5, "committed by this RM on its own");

    private static final UndoLogStatus[] BY_CODE = values();

    private final int code;
    private final String description;

    UndoLogStatus(int code, String description) {
        this.code = code;
        this.description = description;
    }

    /** The number stored in {@code log_status}. */
    int code() {
        return code;
    }

    /** The status stored as {@code code}; null for a number no version of the RM writes (an altered row). */
    static UndoLogStatus ofCode(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    /** The statuses a row in this status may be moved to, itself excluded ({@link #mayMoveTo}). */
    Set<UndoLogStatus> next() {
        return switch (this) {
            // A branch registered as two-phase that gets a CanCommit (or a PreCommit) learns it is three-phase.
            case TWO_PHASE -> EnumSet.of(THREE_PHASE, PRE_COMMITTED);
            case THREE_PHASE -> EnumSet.of(PRE_COMMITTED, ROLLED_BACK_ALONE);
            case PRE_COMMITTED -> EnumSet.of(COMMITTED_ALONE);
            // The TC agreed with the rollback: nothing will be redone, only the marker stays.
            case ROLLED_BACK_ALONE -> EnumSet.of(ROLLBACK_MARKER);
            case ROLLBACK_MARKER, COMMITTED_ALONE -> EnumSet.noneOf(UndoLogStatus.class);
        };
    }

    /** Whether a row in this status may be set to {@code next}; staying put (a new {@code updated} stamp) always may. */
    boolean mayMoveTo(UndoLogStatus next) {
        return next == this || next().contains(next);
    }

    /** Whether the row holds before and after images the branch still needs (a commit deletes exactly these). */
    boolean holdsImages() {
        return this == TWO_PHASE || this == THREE_PHASE || this == PRE_COMMITTED;
    }

    /** Whether the RM finished the branch on its own and the TC has yet to settle it. */
    boolean decidedAlone() {
        return this == ROLLED_BACK_ALONE || this == COMMITTED_ALONE;
    }

    /** For people: what a row in this status means. */
    String describe() {
        return description;
    }
}
