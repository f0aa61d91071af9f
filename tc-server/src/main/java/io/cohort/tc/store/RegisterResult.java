package io.cohort.tc.store;

import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.RowLock;

/** The outcome of {@link TransactionStore#registerBranch}. */
public sealed interface RegisterResult {

    /** The branch and all its row locks are stored, durably. */
    record Registered(long branchId) implements RegisterResult {
    }

    /** Another global transaction holds one of the rows; nothing was stored. */
    record Conflict(RowLock heldBy) implements RegisterResult {
    }

    /** The global transaction does not exist; nothing was stored. */
    record UnknownXid() implements RegisterResult {
    }

    /**
     * The global transaction already has a branch with this id (one the RM chose); nothing was stored.
     * A store sharing one id space across transactions may also answer this for an id another
     * transaction has.
     */
    record DuplicateBranch() implements RegisterResult {
    }

    /** The global transaction is no longer in BEGIN; nothing was stored. */
    record NotActive(GlobalStatus status) implements RegisterResult {
    }
}
