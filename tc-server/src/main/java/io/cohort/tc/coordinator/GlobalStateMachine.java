package io.cohort.tc.coordinator;

import static io.cohort.protocol.GlobalStatus.*;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.ErrorCode;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * Every legal move of a global transaction's status, in one table. Anything not listed is
 * illegal and refused with a clear error; the store's compare-and-set guards the races.
 *
 * <pre>
 * BEGIN ──commit──► ASYNC_COMMITTING ──► COMMITTED            (2PC, AT: undo logs deleted later)
 *   │      └─3PC──► PRE_COMMITTING ─► PRE_COMMITTED ─► COMMITTING ─► COMMITTED
 *   │               (votes)    └─no──► ROLLBACKING   (PreCommit)   (DoCommit)
 *   ├──rollback──► ROLLBACKING ──► ROLLBACKED
 *   └──timeout───► TIMEOUT_ROLLBACKING ──► TIMEOUT_ROLLBACKED
 * each *ING state may go to its *_RETRYING state (retried with backoff) and, when the retry
 * budget is spent or a branch cannot be finished safely, to COMMIT_FAILED / ROLLBACK_FAILED,
 * where it waits for a person (REST API: retry).
 * </pre>
 */
public final class GlobalStateMachine {

    private static final Map<GlobalStatus, Set<GlobalStatus>> NEXT = new EnumMap<>(GlobalStatus.class);

    static {
        allow(BEGIN, ASYNC_COMMITTING, COMMITTING, PRE_COMMITTING, ROLLBACKING, TIMEOUT_ROLLBACKING);
        allow(PRE_COMMITTING, PRE_COMMITTED, ROLLBACKING);
        allow(PRE_COMMITTED, COMMITTING, COMMIT_FAILED);
        allow(COMMITTING, COMMITTED, COMMIT_RETRYING, COMMIT_FAILED);
        allow(ASYNC_COMMITTING, COMMITTED, COMMIT_RETRYING, COMMIT_FAILED);
        allow(COMMIT_RETRYING, COMMITTED, COMMIT_FAILED);
        allow(COMMIT_FAILED, COMMIT_RETRYING);
        allow(ROLLBACKING, ROLLBACKED, ROLLBACK_RETRYING, ROLLBACK_FAILED);
        allow(ROLLBACK_RETRYING, ROLLBACKED, ROLLBACK_FAILED);
        allow(TIMEOUT_ROLLBACKING, TIMEOUT_ROLLBACKED, TIMEOUT_ROLLBACK_RETRYING, ROLLBACK_FAILED);
        allow(TIMEOUT_ROLLBACK_RETRYING, TIMEOUT_ROLLBACKED, ROLLBACK_FAILED);
        allow(ROLLBACK_FAILED, ROLLBACK_RETRYING);
        allow(COMMITTED);
        allow(ROLLBACKED);
        allow(TIMEOUT_ROLLBACKED);
    }

    private GlobalStateMachine() {
    }

    private static void allow(GlobalStatus from, GlobalStatus... to) {
        NEXT.put(from, to.length == 0 ? EnumSet.noneOf(GlobalStatus.class) : EnumSet.of(to[0], to));
    }

    public static boolean canMove(GlobalStatus from, GlobalStatus to) {
        return NEXT.get(from).contains(to);
    }

    /** Throws a {@link CoordinatorException} naming both statuses when the move is illegal. */
    public static void checkMove(String xid, GlobalStatus from, GlobalStatus to) {
        if (!canMove(from, to)) {
            throw new CoordinatorException(ErrorCode.ILLEGAL_TRANSITION, "Global transaction " + xid
                    + " cannot go from " + from + " to " + to + "; allowed from " + from + ": " + NEXT.get(from));
        }
    }

    /** The retrying status for a driving status (itself if it is one already). */
    public static GlobalStatus retryingOf(GlobalStatus status) {
        return switch (status) {
            case PRE_COMMITTED -> PRE_COMMITTED; // 3PC: PreCommit is simply sent again
            case COMMITTING, ASYNC_COMMITTING, COMMIT_RETRYING, COMMIT_FAILED -> COMMIT_RETRYING;
            case ROLLBACKING, ROLLBACK_RETRYING, ROLLBACK_FAILED -> ROLLBACK_RETRYING;
            case TIMEOUT_ROLLBACKING, TIMEOUT_ROLLBACK_RETRYING -> TIMEOUT_ROLLBACK_RETRYING;
            default -> throw new IllegalArgumentException("No retrying status for " + status);
        };
    }

    /** The final status a driving status ends in when every branch is done. */
    public static GlobalStatus doneOf(GlobalStatus status) {
        return switch (status) {
            case COMMITTING, ASYNC_COMMITTING, COMMIT_RETRYING -> COMMITTED;
            case ROLLBACKING, ROLLBACK_RETRYING -> ROLLBACKED;
            case TIMEOUT_ROLLBACKING, TIMEOUT_ROLLBACK_RETRYING -> TIMEOUT_ROLLBACKED;
            default -> throw new IllegalArgumentException("No done status for " + status);
        };
    }

    /** The status a driving status ends in when a person must look. */
    public static GlobalStatus failedOf(GlobalStatus status) {
        return status.isCommitDecided() ? COMMIT_FAILED : ROLLBACK_FAILED;
    }
}
