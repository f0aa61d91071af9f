package io.cohort.rm;

import io.cohort.client.TcClient;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.QueryLocksResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import java.util.List;

/**
 * The three TC calls the RM's phase 1 makes. {@link #of(TcClient)} is the real one; tests of the
 * SQL path may plug in a coordinator of their own.
 */
public interface BranchCoordinator {

    RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                          byte[] applicationData, String clientId);

    void reportBranch(String xid, long branchId, BranchStatusCode status, String reason);

    QueryLocksResponse queryLocks(String resourceId, List<String> lockKeys, String ownXid);

    static BranchCoordinator of(TcClient client) {
        return new BranchCoordinator() {
            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId) {
                return client.registerBranch(xid, resourceId, lockKeys, applicationData, clientId);
            }

            @Override
            public void reportBranch(String xid, long branchId, BranchStatusCode status, String reason) {
                client.reportBranch(xid, branchId, status, reason, false);
            }

            @Override
            public QueryLocksResponse queryLocks(String resourceId, List<String> lockKeys, String ownXid) {
                return client.queryLocks(resourceId, lockKeys, ownXid);
            }
        };
    }
}
