package io.cohort.rm;

import io.cohort.client.TcClient;
import io.cohort.client.TcProbe;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.QueryLocksResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import java.time.Duration;
import java.util.List;

/**
 * The TC calls the RM makes: phase 1 (register, report a failure, query locks) and, for three-phase
 * commit, asking the outcome of a branch it has heard nothing about and telling the TC what it
 * decided on its own. {@link #of(TcClient)} is the real one; tests may plug in a coordinator of
 * their own.
 */
public interface BranchCoordinator {

    RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                          byte[] applicationData, String clientId);

    /**
     * As the other {@code registerBranch}, letting the TC hold the call up to {@code lockWaitMs} while
     * other global transactions hold the rows; it answers when they are released (and taken), or with
     * the conflict. This default does not wait: a conflict comes back at once and the RM backs off.
     */
    default RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                  byte[] applicationData, String clientId, long lockWaitMs) {
        return registerBranch(xid, resourceId, lockKeys, applicationData, clientId);
    }

    /**
     * As the other {@code registerBranch}, with the branch id the RM chose ({@code branchId} &gt; 0), so
     * its undo log could be written while the call was in flight. The RM uses the id the answer
     * holds; this default drops the chosen one, so the TC assigns it and the RM re-keys its undo log.
     */
    default RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                  byte[] applicationData, String clientId, long lockWaitMs,
                                                  long branchId) {
        return registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs);
    }

    void reportBranch(String xid, long branchId, BranchStatusCode status, String reason);

    /**
     * Tells the TC that work of {@code resourceId} in {@code xid} failed in phase 1 with no branch to
     * report it on (registration refused, a statement the RM started failed): the global transaction
     * must roll back. Returns the global status the TC answered.
     */
    GlobalStatusResponse markRollbackOnly(String xid, String resourceId, String reason);

    QueryLocksResponse queryLocks(String resourceId, List<String> lockKeys, String ownXid);

    /**
     * The global transaction's status from any reachable TC replica. Throws
     * {@link io.cohort.client.TcUnavailableException} when none answers, a
     * {@link io.cohort.client.TcException} with {@code UNKNOWN_XID} when the TC does not know it.
     */
    GlobalStatusResponse status(String xid);

    /** 3PC: tells the TC how the RM finished a branch on its own; returns the global status the TC answered. */
    GlobalStatus reportDecision(String xid, long branchId, BranchStatusCode status, String reason);

    /**
     * 3PC: a round of status questions in which "no TC answers" is known within {@code deadline} per
     * question, however the network fails (see {@link TcProbe}); closed after the round. This default
     * asks {@link #status} and so is only as bounded as that call.
     */
    default StatusProbe openStatusProbe(Duration deadline) {
        return this::status;
    }

    /** Status questions to the TC for one round of three-phase termination. */
    @FunctionalInterface
    interface StatusProbe extends AutoCloseable {

        /** As {@link BranchCoordinator#status}. */
        GlobalStatusResponse status(String xid);

        @Override
        default void close() {
        }
    }

    static BranchCoordinator of(TcClient client) {
        return new BranchCoordinator() {
            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId) {
                return client.registerBranch(xid, resourceId, lockKeys, applicationData, clientId);
            }

            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs) {
                return client.registerBranch(xid, resourceId, lockKeys, applicationData, clientId,
                        Duration.ofMillis(lockWaitMs));
            }

            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         long branchId) {
                return client.registerBranch(xid, resourceId, lockKeys, applicationData, clientId,
                        Duration.ofMillis(lockWaitMs), branchId);
            }

            @Override
            public void reportBranch(String xid, long branchId, BranchStatusCode status, String reason) {
                client.reportBranch(xid, branchId, status, reason, false);
            }

            @Override
            public GlobalStatusResponse markRollbackOnly(String xid, String resourceId, String reason) {
                return client.markRollbackOnly(xid, resourceId, reason);
            }

            @Override
            public QueryLocksResponse queryLocks(String resourceId, List<String> lockKeys, String ownXid) {
                return client.queryLocks(resourceId, lockKeys, ownXid);
            }

            @Override
            public GlobalStatusResponse status(String xid) {
                return client.statusFromAnyReplica(xid);
            }

            @Override
            public GlobalStatus reportDecision(String xid, long branchId, BranchStatusCode status, String reason) {
                return client.reportBranch(xid, branchId, status, reason, true);
            }

            @Override
            public StatusProbe openStatusProbe(Duration deadline) {
                TcProbe probe = new TcProbe(client.config(), deadline);
                return new StatusProbe() {
                    @Override
                    public GlobalStatusResponse status(String xid) {
                        return probe.status(xid);
                    }

                    @Override
                    public void close() {
                        probe.close();
                    }
                };
            }
        };
    }
}
