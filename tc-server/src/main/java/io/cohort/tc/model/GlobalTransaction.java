package io.cohort.tc.model;

import io.cohort.protocol.GlobalStatus;
import com.fasterxml.jackson.annotation.JsonProperty;
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
 * @param heuristicEvidence empty, or what shows that branches ended differently (3PC split): kept
 *                      for good, whatever the status does later
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
        String heuristicEvidence,
        String reason,
        long updatedAtMs) {

    public GlobalTransaction {
        reason = reason == null ? "" : reason;
        heuristicEvidence = heuristicEvidence == null ? "" : heuristicEvidence;
        name = name == null ? "" : name;
        applicationId = applicationId == null ? "" : applicationId;
    }

    /** Branches ended differently at some point (even if the TC repaired it since). */
    @JsonProperty("heuristic")
    public boolean heuristic() {
        return !heuristicEvidence.isEmpty();
    }

    public long deadlineMs() {
        return beginTimeMs + timeoutMs;
    }

    public GlobalTransaction withStatus(GlobalStatus newStatus, String newReason, long nowMs) {
        return new GlobalTransaction(xid, name, applicationId, protocol, newStatus, beginTimeMs, timeoutMs,
                heuristicEvidence, newReason, nowMs);
    }

    public GlobalTransaction withHeuristic(String evidence, long nowMs) {
        return new GlobalTransaction(xid, name, applicationId, protocol, status, beginTimeMs, timeoutMs,
                evidence, reason, nowMs);
    }
}
