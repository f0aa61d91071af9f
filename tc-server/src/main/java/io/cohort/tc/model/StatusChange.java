package io.cohort.tc.model;

import io.cohort.protocol.BranchStatus;

/**
 * One step of a global transaction's status history: the transaction reached a status, a branch
 * registered, or a branch reached a status.
 *
 * @param atMs     when (epoch ms, TC clock)
 * @param branchId the branch, or {@link #GLOBAL} for the transaction itself
 * @param status   a {@code GlobalStatus} name for the transaction, a {@code BranchStatus} name for a
 *                 branch ({@code REGISTERED}: its registration)
 * @param cause    who or what made the change
 * @param reason   why, as recorded with the change (for a registration: its resource)
 */
public record StatusChange(long atMs, long branchId, String status, ChangeCause cause, String reason) {

    /** {@link #branchId} of a change of the global transaction itself (branch ids start at 1). */
    public static final long GLOBAL = 0;

    public StatusChange {
        reason = reason == null ? "" : reason;
        cause = cause == null ? ChangeCause.UNKNOWN : cause;
    }

    /** The registration of {@code b} (whatever status it has reached since). */
    public static StatusChange registered(Branch b, ChangeCause cause) {
        return new StatusChange(b.registeredAtMs(), b.branchId(), BranchStatus.REGISTERED.name(), cause,
                "resource " + b.resourceId());
    }
}
