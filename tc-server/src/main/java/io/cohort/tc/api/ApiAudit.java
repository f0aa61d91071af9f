package io.cohort.tc.api;

import io.cohort.tc.support.LogText;
import io.cohort.tc.support.WarningThrottle;
import jakarta.servlet.http.HttpServletRequest;
import java.time.Clock;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The audit trail of the REST API, on the logger {@code io.cohort.tc.audit}: every change asked by
 * a person (who, from where, what, and how it ended) and every refused request. Refusals are
 * throttled so that a flood of bad requests cannot flood the log; the log line's time is the when.
 */
final class ApiAudit {

    private static final Logger log = LoggerFactory.getLogger("io.cohort.tc.audit");

    private final WarningThrottle refusals;

    ApiAudit(Clock clock) {
        this.refusals = new WarningThrottle(log, "refused REST request", 20, Duration.ofSeconds(10), clock);
    }

    /** Who is calling, as recorded on what they change: e.g. {@code admin from 10.0.0.7 over REST}. */
    static String caller(String principal, HttpServletRequest request) {
        return principal + " from " + request.getRemoteAddr() + " over REST";
    }

    void authenticationFailed(HttpServletRequest request, String why) {
        refusals.warn("Authentication failed: {} {} from {} with {}", request.getMethod(),
                LogText.safe(request.getRequestURI()), request.getRemoteAddr(), why);
    }

    void refused(HttpServletRequest request, String what) {
        refusals.warn("Refused {} {} from {}: {}", request.getMethod(), LogText.safe(request.getRequestURI()),
                request.getRemoteAddr(), LogText.safe(what));
    }

    void adminAction(String caller, String action, String xid, String outcome) {
        log.info("Admin action: {} of {} by {}: {}", action, LogText.safe(xid), caller, LogText.safe(outcome));
    }
}
