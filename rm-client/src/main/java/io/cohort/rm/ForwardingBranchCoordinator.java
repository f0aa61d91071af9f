package io.cohort.rm;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.QueryLocksResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * A {@link BranchCoordinator} that passes every call to another one: extend it and override only the
 * calls to observe or change (count registrations, time them, fail one on purpose).
 */
public abstract class ForwardingBranchCoordinator implements BranchCoordinator {

    private final BranchCoordinator delegate;

    protected ForwardingBranchCoordinator(BranchCoordinator delegate) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
    }

    protected final BranchCoordinator delegate() {
        return delegate;
    }

    @Override
    public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                 byte[] applicationData, String clientId) {
        return delegate.registerBranch(xid, resourceId, lockKeys, applicationData, clientId);
    }

    @Override
    public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                 byte[] applicationData, String clientId, long lockWaitMs) {
        return delegate.registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs);
    }

    /** The call the RM makes for a branch: override this one to observe or fault registrations. */
    @Override
    public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                 byte[] applicationData, String clientId, long lockWaitMs,
                                                 long branchId) {
        return delegate.registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs, branchId);
    }

    @Override
    public void reportBranch(String xid, long branchId, BranchStatusCode status, String reason) {
        delegate.reportBranch(xid, branchId, status, reason);
    }

    @Override
    public GlobalStatusResponse markRollbackOnly(String xid, String resourceId, String reason) {
        return delegate.markRollbackOnly(xid, resourceId, reason);
    }

    @Override
    public QueryLocksResponse queryLocks(String resourceId, List<String> lockKeys, String ownXid) {
        return delegate.queryLocks(resourceId, lockKeys, ownXid);
    }

    @Override
    public GlobalStatusResponse status(String xid) {
        return delegate.status(xid);
    }

    @Override
    public GlobalStatus reportDecision(String xid, long branchId, BranchStatusCode status, String reason) {
        return delegate.reportDecision(xid, branchId, status, reason);
    }

    @Override
    public StatusProbe openStatusProbe(Duration deadline) {
        return delegate.openStatusProbe(deadline);
    }
}
