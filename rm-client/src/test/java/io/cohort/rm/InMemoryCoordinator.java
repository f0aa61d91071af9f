package io.cohort.rm;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.LockConflict;
import io.cohort.protocol.v1.QueryLocksResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A coordinator that lives in the test: branch ids, row locks, and phase 2 driven straight into
 * the RM's handler. Lets the SQL path and rollback be tested on real PostgreSQL without a TC.
 */
public final class InMemoryCoordinator implements BranchCoordinator {

    public record Branch(String xid, long branchId, String resourceId, List<String> lockKeys) {
    }

    private final AtomicLong ids = new AtomicLong(1000);
    private final Map<String, List<Branch>> branches = new HashMap<>();
    private final Map<String, String> locks = new HashMap<>(); // resource|table:pk -> xid
    private final Map<String, Long> lockedAt = new HashMap<>();
    public final List<String> reports = new ArrayList<>();
    private ResourceManager rm;

    /** The id the next registered branch will get. */
    public long nextBranchId() {
        return ids.get() + 1;
    }

    public void attach(ResourceManager rm) {
        this.rm = rm;
    }

    @Override
    public synchronized RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                              byte[] applicationData, String clientId) {
        List<String> rows = rows(resourceId, lockKeys);
        for (String row : rows) {
            String holder = locks.get(row);
            if (holder != null && !holder.equals(xid)) {
                return RegisterBranchResponse.newBuilder().setConflict(LockConflict.newBuilder()
                        .setLockKey(row.substring(row.indexOf('|') + 1)).setHolderXid(holder)
                        .setHeldSinceEpochMs(lockedAt.get(row))).build();
            }
        }
        for (String row : rows) {
            locks.put(row, xid);
            lockedAt.putIfAbsent(row, System.currentTimeMillis());
        }
        long id = ids.incrementAndGet();
        branches.computeIfAbsent(xid, x -> new ArrayList<>()).add(new Branch(xid, id, resourceId, lockKeys));
        return RegisterBranchResponse.newBuilder().setBranchId(id).build();
    }

    @Override
    public synchronized void reportBranch(String xid, long branchId, BranchStatusCode status, String reason) {
        reports.add(xid + "/" + branchId + "/" + status + "/" + reason);
        if (status == BranchStatusCode.BRANCH_PHASE1_FAILED) {
            branches.getOrDefault(xid, new ArrayList<>()).removeIf(b -> b.branchId() == branchId);
            if (branches.getOrDefault(xid, List.of()).isEmpty()) {
                release(xid);
            }
        }
    }

    @Override
    public synchronized QueryLocksResponse queryLocks(String resourceId, List<String> lockKeys, String ownXid) {
        for (String row : rows(resourceId, lockKeys)) {
            String holder = locks.get(row);
            if (holder != null && !holder.equals(ownXid)) {
                return QueryLocksResponse.newBuilder().setLockable(false).setConflict(LockConflict.newBuilder()
                        .setLockKey(row.substring(row.indexOf('|') + 1)).setHolderXid(holder)
                        .setHeldSinceEpochMs(lockedAt.get(row))).build();
            }
        }
        return QueryLocksResponse.newBuilder().setLockable(true).build();
    }

    public synchronized List<Branch> branches(String xid) {
        return List.copyOf(branches.getOrDefault(xid, List.of()));
    }

    /** Phase 2 rollback of every branch, last registered first; returns the results. */
    public List<BranchResult> rollback(String xid) {
        List<BranchResult> results = new ArrayList<>();
        List<Branch> list = new ArrayList<>(branches(xid));
        java.util.Collections.reverse(list);
        for (Branch b : list) {
            results.add(command(b, BranchAction.ROLLBACK));
        }
        if (results.stream().allMatch(r -> r.getStatus() == BranchStatus.PHASE2_ROLLBACKED.toWire())) {
            release(xid);
        }
        return results;
    }

    public List<BranchResult> commit(String xid) {
        release(xid);
        List<BranchResult> results = new ArrayList<>();
        for (Branch b : branches(xid)) {
            results.add(command(b, BranchAction.COMMIT));
        }
        return results;
    }

    public BranchResult command(Branch b, BranchAction action) {
        return rm.handler().handle(BranchCommand.newBuilder().setRequestId(b.branchId()).setXid(b.xid())
                .setBranchId(b.branchId()).setResourceId(b.resourceId()).setAction(action).build());
    }

    public synchronized void releaseAll() {
        locks.clear();
    }

    public synchronized void release(String xid) {
        locks.values().removeIf(x -> x.equals(xid));
    }

    private static List<String> rows(String resourceId, List<String> lockKeys) {
        List<String> out = new ArrayList<>();
        for (String key : lockKeys) {
            int colon = key.lastIndexOf(':');
            String table = key.substring(0, colon);
            for (String pk : key.substring(colon + 1).split(",")) {
                out.add(resourceId + "|" + table + ":" + pk);
            }
        }
        return out;
    }
}
