package io.cohort.rm.jdbc;

import io.cohort.client.TcException;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.GlobalLockConflictException;
import io.cohort.rm.RmConfig;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.LockConflict;
import io.cohort.protocol.v1.QueryLocksResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;

/**
 * Global locks from the RM's side: registering a branch (which takes its locks) and checking that
 * rows are free, then failing with the holder named.
 *
 * <p>A registration asks the TC to hold it while the rows are taken, for what is left of
 * {@link RmConfig#lockWaitBudget()}: the TC queues it and answers as soon as the holder's locks are
 * released, so the wait ends when the rows free up rather than at the next step of a backoff. When
 * the TC answers a conflict without having waited (an older TC, or its waiter cap is reached) the RM
 * backs off itself — starting at {@code cohort.rm.lock-retry-interval}, doubling up to 16 times
 * that, for {@code cohort.rm.lock-retry-attempts} attempts. Lock checks ({@link #awaitFree}) always
 * back off.
 */
final class GlobalLocks {

    private GlobalLocks() {
    }

    /**
     * Registers the branch; the answer holds its id and the global transaction's protocol. Throws
     * {@link GlobalLockConflictException} when the locks stay taken.
     *
     * @param applicationData kept by the TC and sent back with the branch's phase-2 commands
     * @param branchId        the id the RM chose ({@link BranchIds}); the answer's id is the one to use
     */
    static RegisterBranchResponse register(Resource resource, String xid, List<String> lockKeys,
                                                  byte[] applicationData, long branchId) throws SQLException {
        RmConfig config = resource.config();
        Clock clock = resource.clock();
        long start = clock.millis();
        long deadline = start + config.lockWaitBudget().toMillis();
        LockConflict conflict = null;
        for (int attempt = 1; attempt <= config.lockRetryAttempts(); attempt++) {
            RegisterBranchResponse response;
            try {
                response = registerOnce(resource, xid, lockKeys, applicationData, Math.max(0, deadline - clock.millis()),
                        branchId);
            } catch (TcException e) {
                throw new SQLException("Could not register the branch of global transaction " + xid + " with the TC: "
                        + e.getMessage(), e.isRetriable() ? "08006" : "40000", e);
            }
            if (response.hasConflict()) {
                conflict = response.getConflict();
                if (holderRollingBack(conflict)) {
                    break;
                }
                if (conflict.getWaitedMs() > 0) {
                    if (clock.millis() >= deadline) {
                        break; // the TC held it for the whole budget
                    }
                    continue; // the TC stopped short of the budget (its own cap): ask it again for the rest
                }
                pause(config, attempt);
            } else {
                return response;
            }
        }
        throw conflict(conflict, config, clock, start, xid);
    }

    /**
     * One registration. A TC that does not know this RM's resource has restarted while this RM's
     * command stream waits out its reconnect backoff: the stream is reopened at once and the
     * registration sent again, instead of turning away an RM that is alive.
     */
    private static RegisterBranchResponse registerOnce(Resource resource, String xid, List<String> lockKeys,
                                                       byte[] applicationData, long lockWaitMs, long branchId) {
        BranchCoordinator tc = resource.coordinator();
        try {
            return tc.registerBranch(xid, resource.resourceId(), lockKeys, applicationData, resource.clientId(),
                    lockWaitMs, branchId);
        } catch (TcException e) {
            if (e.errorCode() != ErrorCode.UNKNOWN_RESOURCE || !resource.reconnectCommandStreams()) {
                throw e;
            }
            return tc.registerBranch(xid, resource.resourceId(), lockKeys, applicationData, resource.clientId(),
                    lockWaitMs, branchId);
        }
    }

    /** Waits until no other global transaction holds {@code lockKeys}. */
    static void awaitFree(Resource resource, String ownXid, List<String> lockKeys) throws SQLException {
        if (lockKeys.isEmpty()) {
            return;
        }
        RmConfig config = resource.config();
        Clock clock = resource.clock();
        long start = clock.millis();
        LockConflict conflict = null;
        for (int attempt = 1; attempt <= config.lockRetryAttempts(); attempt++) {
            QueryLocksResponse response;
            try {
                response = resource.coordinator().queryLocks(resource.resourceId(), lockKeys, ownXid);
            } catch (TcException e) {
                throw new SQLException("Could not check global locks with the TC: " + e.getMessage(), "08006", e);
            }
            if (response.getLockable()) {
                return;
            }
            conflict = response.getConflict();
            if (holderRollingBack(conflict)) {
                break;
            }
            pause(config, attempt);
        }
        throw conflict(conflict, config, clock, start, ownXid);
    }

    /**
     * A holder that is rolling back must lock these rows to undo them, and this local transaction
     * holds them: waiting would stall both until the retries run out, so give them up at once.
     */
    private static boolean holderRollingBack(LockConflict c) {
        GlobalStatusCode s = c.getHolderStatus();
        return s != GlobalStatusCode.GLOBAL_UNKNOWN && s != GlobalStatusCode.UNRECOGNIZED
                && GlobalStatus.fromWire(s).isRollbackDecided();
    }

    private static GlobalLockConflictException conflict(LockConflict c, RmConfig config, Clock clock, long start,
                                                        String xid) {
        long now = clock.millis();
        return new GlobalLockConflictException(c.getLockKey(), c.getHolderXid(), c.getHeldSinceEpochMs(),
                config.lockRetryAttempts(), Duration.ofMillis(now - start), xid, now, holderRollingBack(c));
    }

    private static void pause(RmConfig config, int attempt) throws SQLException {
        if (attempt >= config.lockRetryAttempts()) {
            return;
        }
        long base = config.lockRetryInterval().toMillis();
        long wait = Math.min(base * 16, base << Math.min(attempt - 1, 4));
        try {
            Thread.sleep(wait);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SQLException("Interrupted while waiting for a global lock", "57014", e);
        }
    }
}
