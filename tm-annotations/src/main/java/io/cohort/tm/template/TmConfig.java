package io.cohort.tm.template;

import io.cohort.tm.CommitProtocol;
import java.time.Duration;

/**
 * The TM's defaults and retry budget.
 *
 * @param defaultTimeout         timeout of a global transaction that does not name one
 * @param defaultProtocol        protocol of one that does not name one; DEFAULT leaves it to the TC
 * @param commitRetryAttempts    times the TM asks the TC to commit before it reports the outcome as
 *                               unknown (each ask is itself retried by the TC client when no TC answers)
 * @param rollbackRetryAttempts  the same for rollback; the TC's timeout rolls back what is never heard
 * @param retryBackoff           first wait between asks; doubles each time
 * @param beginless              make the XID here instead of calling Begin, when the TC speaks protocol
 *                               minor 8 (the TC creates the transaction at its first registration or
 *                               commit); false: always call Begin
 */
public record TmConfig(Duration defaultTimeout, CommitProtocol defaultProtocol, int commitRetryAttempts,
                       int rollbackRetryAttempts, Duration retryBackoff, boolean beginless) {

    /** With {@code beginless} on. */
    public TmConfig(Duration defaultTimeout, CommitProtocol defaultProtocol, int commitRetryAttempts,
                    int rollbackRetryAttempts, Duration retryBackoff) {
        this(defaultTimeout, defaultProtocol, commitRetryAttempts, rollbackRetryAttempts, retryBackoff, true);
    }

    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    public TmConfig {
        if (defaultTimeout == null || defaultTimeout.isZero() || defaultTimeout.isNegative()) {
            throw new IllegalArgumentException("cohort.tm.default-timeout must be positive, was " + defaultTimeout);
        }
        if (defaultProtocol == null) {
            defaultProtocol = CommitProtocol.DEFAULT;
        }
        if (commitRetryAttempts < 1) {
            throw new IllegalArgumentException("cohort.tm.commit-retry-attempts must be at least 1, was " + commitRetryAttempts);
        }
        if (rollbackRetryAttempts < 1) {
            throw new IllegalArgumentException("cohort.tm.rollback-retry-attempts must be at least 1, was " + rollbackRetryAttempts);
        }
        if (retryBackoff == null || retryBackoff.isNegative()) {
            throw new IllegalArgumentException("cohort.tm.retry-backoff must not be negative, was " + retryBackoff);
        }
    }

    /** 60 s timeout, the TC's default protocol, 5 commit and 3 rollback attempts, 500 ms first backoff, no Begin call. */
    public static TmConfig defaults() {
        return new TmConfig(DEFAULT_TIMEOUT, CommitProtocol.DEFAULT, 5, 3, Duration.ofMillis(500));
    }

    public TmConfig withRetryBackoff(Duration backoff) {
        return new TmConfig(defaultTimeout, defaultProtocol, commitRetryAttempts, rollbackRetryAttempts, backoff,
                beginless);
    }

    public TmConfig withBeginless(boolean on) {
        return new TmConfig(defaultTimeout, defaultProtocol, commitRetryAttempts, rollbackRetryAttempts, retryBackoff, on);
    }
}
