package io.cohort.tm.template;

import io.cohort.client.TcClient;
import io.cohort.client.TcException;
import io.cohort.client.TcUnavailableException;
import io.cohort.client.TmMadeXids;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.TraceKeys;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.tm.CommitProtocol;
import io.cohort.tm.GlobalTransactionBeginException;
import io.cohort.tm.GlobalTransactionException;
import io.cohort.tm.GlobalTransactionOutcomeUnknownException;
import io.cohort.tm.GlobalTransactionPropagationException;
import io.cohort.tm.GlobalTransactionRollbackFailedException;
import io.cohort.tm.GlobalTransactionRolledBackException;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.time.Duration;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one home of the TM's begin / commit / rollback logic; {@code @GlobalTransactional} delegates
 * here, and code without Spring calls it directly:
 * <pre>{@code
 * String receipt = template.execute(TransactionDefinition.named("transfer"), () -> bank.transfer(from, to, amount));
 * }</pre>
 *
 * <p>Only the call that begins a global transaction commits or rolls it back; a call that joins
 * one just runs its body. The body's exception is rethrown as the same instance. The XID is bound
 * to the thread only while the body runs, and whatever was bound before is restored afterwards,
 * also when begin, the body, commit or rollback fail.
 *
 * <p>Failures never look like success: a TC that cannot be reached at begin fails fast (the body
 * does not run); a commit that the TC never confirms ends in
 * {@link GlobalTransactionOutcomeUnknownException}; a commit answered with a rollback ends in
 * {@link GlobalTransactionRolledBackException}, and so does a body that threw after the TC had
 * timed the transaction out (the body's exception is then its cause). Thread-safe; one per process.
 */
public final class GlobalTransactionTemplate {

    private static final Logger log = LoggerFactory.getLogger(GlobalTransactionTemplate.class);

    private final TcClient tc;
    private final TmConfig config;

    public GlobalTransactionTemplate(TcClient tc, TmConfig config) {
        this.tc = Objects.requireNonNull(tc, "tc");
        this.config = Objects.requireNonNull(config, "config");
    }

    /** Runs {@code body} as {@code definition} says; returns its result or rethrows its exception. */
    public <T, E extends Throwable> T execute(TransactionDefinition definition, TransactionalBody<T, E> body) throws E {
        String bound = XidContext.current();
        switch (definition.propagation()) {
            case REQUIRED:
                return bound != null ? body.run() : runInNew(definition, body, bound);
            case REQUIRES_NEW:
                return runInNew(definition, body, bound);
            case SUPPORTS:
                return body.run();
            case NOT_SUPPORTED:
                return bound == null ? body.run() : runWithout(body, bound);
            case MANDATORY:
                if (bound == null) {
                    throw new GlobalTransactionPropagationException("'" + definition.name()
                            + "' has propagation MANDATORY but no global transaction is bound to the thread", null);
                }
                return body.run();
            case NEVER:
                if (bound != null) {
                    throw new GlobalTransactionPropagationException("'" + definition.name()
                            + "' has propagation NEVER but runs inside global transaction " + bound, bound);
                }
                return body.run();
            default:
                throw new IllegalStateException("Unknown propagation " + definition.propagation());
        }
    }

    private static <T, E extends Throwable> T runWithout(TransactionalBody<T, E> body, String suspended) throws E {
        XidContext.unbind();
        try {
            return body.run();
        } finally {
            XidContext.restore(suspended);
        }
    }

    private <T, E extends Throwable> T runInNew(TransactionDefinition definition, TransactionalBody<T, E> body,
                                                String suspended) throws E {
        ObservationRegistry registry = tc.observations();
        if (registry.isNoop()) {
            return runInNew(definition, body, suspended, Observation.NOOP);
        }
        // One span over begin, the body (the branches and the calls to other services are its children) and
        // commit or rollback; the XID is added once begin answered.
        Observation observation = Observation.createNotStarted(TraceKeys.GLOBAL_TRANSACTION, registry)
                .contextualName("cohort global " + definition.name())
                .lowCardinalityKeyValue(TraceKeys.TRANSACTION_NAME, definition.name())
                .lowCardinalityKeyValue(TraceKeys.OUTCOME, "unknown")
                .highCardinalityKeyValue(TraceKeys.XID, TraceKeys.NONE)
                .start();
        try (Observation.Scope scope = observation.openScope()) {
            return runInNew(definition, body, suspended, observation);
        } catch (Throwable thrown) {
            observation.error(thrown);
            throw thrown;
        } finally {
            observation.stop();
        }
    }

    private <T, E extends Throwable> T runInNew(TransactionDefinition definition, TransactionalBody<T, E> body,
                                                String suspended, Observation observation) throws E {
        String xid = begin(definition);
        try {
            observation.highCardinalityKeyValue(TraceKeys.XID, xid);
            T result;
            XidContext.bind(xid);
            try {
                result = body.run();
            } catch (Throwable thrown) {
                XidContext.restore(suspended);
                completeAfterThrowing(definition, xid, thrown, observation);
                throw thrown;
            }
            XidContext.restore(suspended);
            commit(xid);
            observation.lowCardinalityKeyValue(TraceKeys.OUTCOME, "committed");
            return result;
        } finally {
            TmMadeXids.forget(xid);
        }
    }

    private String begin(TransactionDefinition definition) {
        Duration timeout = definition.timeout() != null ? definition.timeout() : config.defaultTimeout();
        CommitProtocol protocol = definition.protocol() != CommitProtocol.DEFAULT
                ? definition.protocol() : config.defaultProtocol();
        if (config.beginless()) {
            // No call: the TC creates the transaction at its first registration, commit or rollback.
            String xid = tc.beginLocally(definition.name(), timeout, protocol.toWire());
            if (xid != null) {
                log.debug("Began global transaction {} '{}' (timeout {}, {}; the TC learns of it at its first call)",
                        xid, definition.name(), timeout, protocol);
                return xid;
            }
        }
        try {
            String xid = tc.begin(definition.name(), timeout, protocol.toWire());
            log.debug("Began global transaction {} '{}' (timeout {}, {})", xid, definition.name(), timeout, protocol);
            return xid;
        } catch (TcException e) {
            throw new GlobalTransactionBeginException("Cannot begin global transaction '" + definition.name()
                    + "': the TC at " + tc.config().address()
                    + (e instanceof TcUnavailableException ? " did not answer" : " refused")
                    + " (" + e.getMessage() + "); the method did not run", e);
        }
    }

    /** The body threw: roll back, or commit for exceptions the rules let through; never replace the body's exception. */
    private void completeAfterThrowing(TransactionDefinition definition, String xid, Throwable thrown,
                                       Observation observation) {
        if (!definition.rollbackRules().shouldRollback(thrown)) {
            log.debug("{} threw {}, which commits global transaction {}", definition.name(), thrown, xid);
            try {
                commit(xid);
            } catch (GlobalTransactionException commitFailure) {
                // Like Spring: the commit failure is what the caller must see; the body's exception travels with it.
                commitFailure.addSuppressed(thrown);
                throw commitFailure;
            }
            observation.lowCardinalityKeyValue(TraceKeys.OUTCOME, "committed");
            return;
        }
        GlobalStatus rolledBack;
        try {
            rolledBack = rollback(xid);
        } catch (RuntimeException rollbackFailure) {
            thrown.addSuppressed(rollbackFailure);
            return;
        }
        observation.lowCardinalityKeyValue(TraceKeys.OUTCOME, "rolled_back");
        if (isTimeout(rolledBack)) {
            // The TC had timed the transaction out before the method failed, so the method's exception is
            // a consequence (typically a local commit the RM refused, SQLState 40000, which Spring calls
            // retryable): report the timeout, as a commit would, so nothing retries a finished transaction.
            throw new GlobalTransactionRolledBackException(xid, rolledBack,
                    "it timed out while the method ran; the method's exception is the cause", thrown);
        }
    }

    private static boolean isTimeout(GlobalStatus status) {
        return status == GlobalStatus.TIMEOUT_ROLLBACKING || status == GlobalStatus.TIMEOUT_ROLLBACK_RETRYING
                || status == GlobalStatus.TIMEOUT_ROLLBACKED;
    }

    private void commit(String xid) {
        Exception last = null;
        for (int attempt = 1; attempt <= config.commitRetryAttempts(); attempt++) {
            if (attempt > 1 && !backoff(attempt)) {
                break;
            }
            try {
                GlobalStatusResponse answer = tc.commit(xid);
                if (answer.getStatus() != GlobalStatusCode.GLOBAL_UNKNOWN) {
                    GlobalStatus status = GlobalStatus.fromWire(answer.getStatus());
                    if (status.isCommitDecided()) {
                        logCommitted(xid, answer, status);
                        return;
                    }
                    if (status.isRollbackDecided()) {
                        throw new GlobalTransactionRolledBackException(xid, status, answer.getReason(), null);
                    }
                }
                throw new GlobalTransactionOutcomeUnknownException("The TC at " + tc.config().address()
                        + " answered commit of " + xid + " with status " + answer.getStatus() + ": "
                        + answer.getReason() + lookUp(xid), xid, null);
            } catch (TcException e) {
                if (e.isRetriable()) {
                    last = e;
                    log.warn("Commit of {} not confirmed (attempt {} of {}): {}", xid, attempt,
                            config.commitRetryAttempts(), e.getMessage());
                    continue;
                }
                GlobalTransactionException failure = explainRefusedCommit(xid, e);
                if (failure == null) {
                    return;
                }
                throw failure;
            }
        }
        throw new GlobalTransactionOutcomeUnknownException("Outcome of global transaction " + xid + " is UNKNOWN: "
                + "the TC at " + tc.config().address() + " did not confirm commit after "
                + config.commitRetryAttempts() + " attempts; it may have committed or rolled back" + lookUp(xid), xid, last);
    }

    private static void logCommitted(String xid, GlobalStatusResponse answer, GlobalStatus status) {
        if (answer.getHeuristic()) {
            log.warn("Global transaction {} committed with a heuristic outcome ({}): {}", xid, status, answer.getReason());
        } else {
            log.debug("Global transaction {} commit decided ({})", xid, status);
        }
    }

    /**
     * The TC refused commit (timed out, not active, unknown): ask what became of the transaction.
     * Returns the exception to throw, or null when the transaction did commit after all.
     */
    private GlobalTransactionException explainRefusedCommit(String xid, TcException refusal) {
        GlobalStatusResponse now;
        try {
            now = tc.status(xid);
        } catch (TcException statusFailure) {
            refusal.addSuppressed(statusFailure);
            return new GlobalTransactionOutcomeUnknownException("The TC at " + tc.config().address() + " refused commit of "
                    + xid + " (" + refusal.getMessage() + ") and its status could not be read; outcome UNKNOWN"
                    + lookUp(xid), xid, refusal);
        }
        if (now.getStatus() != GlobalStatusCode.GLOBAL_UNKNOWN) {
            GlobalStatus status = GlobalStatus.fromWire(now.getStatus());
            if (status.isRollbackDecided()) {
                String reason = now.getReason().isBlank() ? refusal.getMessage() : now.getReason();
                return new GlobalTransactionRolledBackException(xid, status, reason, refusal);
            }
            if (status.isCommitDecided()) {
                // Refused as a duplicate of a commit that did happen: report what happened, not an error.
                log.info("TC refused commit of {} but reports {}: {}", xid, status, refusal.getMessage());
                return null;
            }
        }
        return new GlobalTransactionException("The TC at " + tc.config().address() + " refused commit of " + xid + ": "
                + refusal.getMessage() + " (status now " + now.getStatus() + ")" + lookUp(xid), xid, refusal);
    }

    /** Rolls back; returns the rollback status the TC answered. */
    private GlobalStatus rollback(String xid) {
        Exception last = null;
        for (int attempt = 1; attempt <= config.rollbackRetryAttempts(); attempt++) {
            if (attempt > 1 && !backoff(attempt)) {
                break;
            }
            try {
                GlobalStatusResponse answer = tc.rollback(xid);
                if (answer.getStatus() != GlobalStatusCode.GLOBAL_UNKNOWN
                        && GlobalStatus.fromWire(answer.getStatus()).isRollbackDecided()) {
                    log.debug("Global transaction {} rolled back ({})", xid, answer.getStatus());
                    return GlobalStatus.fromWire(answer.getStatus());
                }
                throw new GlobalTransactionRollbackFailedException("The TC at " + tc.config().address()
                        + " answered rollback of " + xid + " with status " + answer.getStatus() + ": "
                        + answer.getReason() + lookUp(xid), xid, null);
            } catch (TcException e) {
                if (!e.isRetriable()) {
                    throw new GlobalTransactionRollbackFailedException("The TC at " + tc.config().address()
                            + " refused rollback of " + xid + ": " + e.getMessage() + lookUp(xid), xid, e);
                }
                last = e;
                log.warn("Rollback of {} not confirmed (attempt {} of {}): {}", xid, attempt,
                        config.rollbackRetryAttempts(), e.getMessage());
            }
        }
        throw new GlobalTransactionRollbackFailedException("The TC at " + tc.config().address()
                + " did not confirm rollback of " + xid + " after " + config.rollbackRetryAttempts()
                + " attempts; the TC rolls it back when its timeout expires" + lookUp(xid), xid, last);
    }

    /** Sleeps before attempt {@code attempt}; false when interrupted (stop retrying, keep the flag). */
    private boolean backoff(int attempt) {
        long millis = config.retryBackoff().toMillis() << Math.min(attempt - 2, 10);
        try {
            Thread.sleep(millis);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String lookUp(String xid) {
        return "; look it up with GET /api/v1/transactions/" + xid + " on the TC";
    }
}
