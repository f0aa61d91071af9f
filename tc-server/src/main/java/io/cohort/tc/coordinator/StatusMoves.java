package io.cohort.tc.coordinator;

import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.store.TransactionStore;
import java.util.concurrent.CompletableFuture;

/**
 * The one way a global transaction's status is written: every move is checked against
 * {@link GlobalStateMachine}'s table before the store's compare-and-set, so an illegal move fails
 * with the XID and both statuses instead of being written. Leaving BEGIN (the decision) has its
 * own door, {@link #leaveBegin}, which only {@link Phase2Driver#decide} opens.
 */
final class StatusMoves {

    private final TransactionStore store;

    StatusMoves(TransactionStore store) {
        this.store = store;
    }

    /**
     * Moves {@code xid} from BEGIN to {@code to}: the transaction's outcome is decided. Completes with
     * false when it had left BEGIN already (another decision won the race).
     */
    CompletableFuture<Boolean> leaveBegin(String xid, GlobalStatus to, String reason, ChangeCause cause) {
        GlobalStateMachine.checkMove(xid, GlobalStatus.BEGIN, to);
        return store.transitionGlobal(xid, GlobalStatus.BEGIN, to, reason, cause);
    }

    /**
     * Moves {@code xid} on from a decided status. Completes with false when it was no longer in
     * {@code from} (someone else moved it).
     *
     * @throws CoordinatorException (ILLEGAL_TRANSITION) when the table forbids the move, or when
     *                              {@code from} is BEGIN: only {@link #leaveBegin} decides
     */
    CompletableFuture<Boolean> move(String xid, GlobalStatus from, GlobalStatus to, String reason, ChangeCause cause) {
        if (from == GlobalStatus.BEGIN) {
            throw new CoordinatorException(io.cohort.protocol.v1.ErrorCode.ILLEGAL_TRANSITION, "Global transaction "
                    + xid + " cannot go from BEGIN to " + to + " here: only the decision (Phase2Driver.decide) leaves BEGIN");
        }
        GlobalStateMachine.checkMove(xid, from, to);
        return store.transitionGlobal(xid, from, to, reason, cause);
    }
}
