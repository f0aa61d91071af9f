package io.cohort.tc.model;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;

/**
 * One global transaction as the store keeps it. Immutable: a change is a new value via the
 * {@code with*} methods, so a value handed to a caller never changes under it.
 *
 * @param xid           the global transaction id
 * @param name          the TM's name for it (usually the annotated method)
 * @param applicationId the TM's application id
 * @param protocol      TWO_PHASE or THREE_PHASE
 * @param status        the current status
 * @param beginTimeMs   when it began (epoch ms, TC clock)
 * @param timeoutMs     how long it may stay in BEGIN before the TC rolls it back
 * @param heuristic     branches ended differently and the TC could not repair it
 * @param reason        why it is in its status (empty when nothing to say)
 * @param updatedAtMs   when the status last changed (epoch ms, TC clock)
 */
public record GlobalTransaction(
        String xid,
        String name,
        String applicationId,
        TransactionProtocol protocol,
        GlobalStatus status,
        long beginTimeMs,
        long timeoutMs,
        boolean heuristic,
        String reason,
        long updatedAtMs) {

    public GlobalTransaction {
        reason = reason == null ? "" : reason;
        name = name == null ? "" : name;
        applicationId = applicationId == null ? "" : applicationId;
    }

    public long deadlineMs() {
        return beginTimeMs + timeoutMs;
    }

    public GlobalTransaction withStatus(GlobalStatus newStatus, String newReason, long nowMs) {
        return new GlobalTransaction(xid, name, applicationId, protocol, newStatus, beginTimeMs, timeoutMs,
                heuristic, newReason, nowMs);
    }

    public GlobalTransaction withHeuristic(String newReason, long nowMs) {
        return new GlobalTransaction(xid, name, applicationId, protocol, status, beginTimeMs, timeoutMs,
                true, newReason, nowMs);
    }
}
