package io.cohort.tc.model;

import io.cohort.protocol.BranchStatus;
import java.util.List;

/**
 * One branch of a global transaction: an RM's local transaction on one resource.
 *
 * @param xid             the global transaction it belongs to
 * @param branchId        unique across the TC cluster; also the order of registration
 * @param resourceId      the RM resource (a database) that owns the branch
 * @param clientId        the RM process that registered it (phase-2 commands prefer it)
 * @param lockKeys        the lock keys as the RM sent them, {@code table:pk1,pk2}
 * @param applicationData opaque RM data returned with every command for this branch
 * @param status          the current status
 * @param registeredAtMs  when it was registered (epoch ms, TC clock)
 * @param reason          why it is in its status (empty when nothing to say)
 */
public record Branch(
        String xid,
        long branchId,
        String resourceId,
        String clientId,
        List<String> lockKeys,
        byte[] applicationData,
        BranchStatus status,
        long registeredAtMs,
        String reason) {

    public Branch {
        lockKeys = List.copyOf(lockKeys);
        applicationData = applicationData == null ? new byte[0] : applicationData;
        reason = reason == null ? "" : reason;
        clientId = clientId == null ? "" : clientId;
    }

    public Branch withStatus(BranchStatus newStatus, String newReason) {
        return new Branch(xid, branchId, resourceId, clientId, lockKeys, applicationData, newStatus,
                registeredAtMs, newReason);
    }
}
