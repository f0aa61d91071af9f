package io.cohort.tc.store;

import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.GlobalTransaction;
import java.util.Locale;
import java.util.Set;

/**
 * Which global transactions a listing shows (REST API, console). Every condition that is set must
 * hold; an unset one (empty set, empty text, 0) is no condition.
 *
 * @param statuses      the statuses to show; empty for all
 * @param nameContains  a piece of the transaction's name, compared without regard to case
 * @param applicationId the TM's application id, exactly
 * @param beganBeforeMs only transactions that began before this instant (epoch ms): "older than"
 */
public record GlobalQuery(Set<GlobalStatus> statuses, String nameContains, String applicationId, long beganBeforeMs) {

    public static final GlobalQuery ALL = new GlobalQuery(Set.of(), "", "", 0);

    public GlobalQuery {
        statuses = statuses == null ? Set.of() : Set.copyOf(statuses);
        nameContains = nameContains == null ? "" : nameContains;
        applicationId = applicationId == null ? "" : applicationId;
        beganBeforeMs = Math.max(0, beganBeforeMs);
    }

    public static GlobalQuery byStatus(Set<GlobalStatus> statuses) {
        return new GlobalQuery(statuses, "", "", 0);
    }

    public boolean matches(GlobalTransaction tx) {
        return (statuses.isEmpty() || statuses.contains(tx.status()))
                && (nameContains.isEmpty() || lower(tx.name()).contains(lower(nameContains)))
                && (applicationId.isEmpty() || applicationId.equals(tx.applicationId()))
                && (beganBeforeMs == 0 || tx.beginTimeMs() < beganBeforeMs);
    }

    private static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }
}
