package io.cohort.tc.store.embedded;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.model.StatusChange;
import java.util.List;

/**
 * One entry of the write-ahead log or of a snapshot. Every record is an <em>absolute</em> assignment
 * (set this field, put this lock on this row, remove these rows), never "relative to what is there":
 * replaying a record twice, or over a snapshot that already contains it, gives the same state. That
 * is what lets a snapshot be taken while writes go on (see {@link EmbeddedTransactionStore}).
 */
sealed interface LogRecord {

    /** Stable type codes written to disk; never renumber or reuse one. */
    byte INSERT_GLOBAL = 1;
    byte REGISTER_BRANCH = 2;
    byte TRANSITION = 3;
    byte HEURISTIC = 4;
    byte UPDATE_BRANCH = 5;
    byte RELEASE_LOCKS = 6;
    byte DELETE_BRANCHES = 7;
    byte PURGE = 8;
    byte SNAPSHOT_LOCK = 9;
    byte SNAPSHOT_END = 10;
    byte BATCH = 11;
    byte HISTORY = 12;

    byte type();

    /** The global transaction exists with exactly these fields (branches and locks untouched). */
    record InsertGlobal(GlobalTransaction tx) implements LogRecord {
        public byte type() {
            return INSERT_GLOBAL;
        }
    }

    /** The branch exists as given, and each of {@code newRows} is locked by it. */
    record RegisterBranch(Branch branch, List<RowKey> newRows) implements LogRecord {
        public byte type() {
            return REGISTER_BRANCH;
        }
    }

    record Transition(String xid, GlobalStatus status, String reason, long atMs, ChangeCause cause) implements LogRecord {
        public byte type() {
            return TRANSITION;
        }
    }

    record Heuristic(String xid, String evidence, long atMs) implements LogRecord {
        public byte type() {
            return HEURISTIC;
        }
    }

    /** {@code atMs} is -1 in logs written before branch updates carried their time (no history entry then). */
    record UpdateBranch(String xid, long branchId, BranchStatus status, String reason, long atMs, ChangeCause cause)
            implements LogRecord {
        public byte type() {
            return UPDATE_BRANCH;
        }
    }

    /** {@code rows} (exactly those {@code xid} held) are free. */
    record ReleaseLocks(String xid, List<RowKey> rows) implements LogRecord {
        public byte type() {
            return RELEASE_LOCKS;
        }
    }

    record DeleteBranches(String xid) implements LogRecord {
        public byte type() {
            return DELETE_BRANCHES;
        }
    }

    /** The transactions are gone with their branches, and {@code rows} (any they still held) are free. */
    record Purge(List<String> xids, List<RowKey> rows) implements LogRecord {
        public byte type() {
            return PURGE;
        }
    }

    /**
     * Snapshot only: the status history of {@code xid} (after its InsertGlobal and branches) as it
     * stands; log records replayed after it add only the changes it does not have.
     */
    record History(String xid, List<StatusChange> changes) implements LogRecord {
        public byte type() {
            return HISTORY;
        }
    }

    /** Snapshot only: one held row lock. */
    record SnapshotLock(RowLock lock) implements LogRecord {
        public byte type() {
            return SNAPSHOT_LOCK;
        }
    }

    /** Snapshot only: the last record; a snapshot without it is incomplete. */
    record SnapshotEnd(long globals, long branches, long locks) implements LogRecord {
        public byte type() {
            return SNAPSHOT_END;
        }
    }

    /**
     * Log only: starts each group-commit batch ({@code records} frames, {@code bytes} long, follow).
     * A batch is written only after the previous one was fsynced, so recovery can tell a torn last
     * batch (dropped whole) from damage to data that had been acknowledged.
     */
    record Batch(int records, int bytes) implements LogRecord {
        public byte type() {
            return BATCH;
        }
    }
}
