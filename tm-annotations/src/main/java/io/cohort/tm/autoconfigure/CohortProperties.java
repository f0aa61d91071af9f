package io.cohort.tm.autoconfigure;

import io.cohort.tm.CommitProtocol;
import io.cohort.tm.aspect.GlobalTransactionalAdvisor;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The TM's {@code cohort.tm.*} properties. {@code cohort.enabled}, {@code cohort.application-id}
 * and {@code cohort.tc.*} are shared with the RM and bound by client-core's
 * {@link io.cohort.client.autoconfigure.CohortTcProperties}.
 */
@ConfigurationProperties("cohort")
public class CohortProperties {

    private final Tm tm = new Tm();

    public Tm getTm() {
        return tm;
    }

    /** The transaction manager: @GlobalTransactional and GlobalTransactionTemplate. */
    public static class Tm {

        /** Timeout of a global transaction that does not name one; the TC rolls it back after that. */
        private Duration defaultTimeout = Duration.ofSeconds(60);

        /** Commit protocol of a global transaction that does not name one; DEFAULT leaves it to the TC. */
        private CommitProtocol defaultProtocol = CommitProtocol.DEFAULT;

        /** Times the TM asks the TC to commit before it reports the outcome as unknown. */
        private int commitRetryAttempts = 5;
        /**
         * Make XIDs here, with no Begin call, when the TC speaks protocol minor 8: the TC creates the
         * transaction at its first registration or commit. False: always call Begin.
         */
        private boolean beginless = true;

        /** Times the TM asks the TC to roll back; the TC's timeout rolls back what it never hears. */
        private int rollbackRetryAttempts = 3;

        /** First wait between those asks; doubles each time. */
        private Duration retryBackoff = Duration.ofMillis(500);

        /**
         * Order of the @GlobalTransactional advisor. The default, LOWEST_PRECEDENCE - 1, runs just
         * outside Spring's @Transactional, so a local transaction finishes before the global decision.
         */
        private int advisorOrder = GlobalTransactionalAdvisor.DEFAULT_ORDER;

        public Duration getDefaultTimeout() {
            return defaultTimeout;
        }

        public void setDefaultTimeout(Duration defaultTimeout) {
            this.defaultTimeout = defaultTimeout;
        }

        public CommitProtocol getDefaultProtocol() {
            return defaultProtocol;
        }

        public void setDefaultProtocol(CommitProtocol defaultProtocol) {
            this.defaultProtocol = defaultProtocol;
        }

        public boolean isBeginless() {
            return beginless;
        }

        public void setBeginless(boolean beginless) {
            this.beginless = beginless;
        }

        public int getCommitRetryAttempts() {
            return commitRetryAttempts;
        }

        public void setCommitRetryAttempts(int commitRetryAttempts) {
            this.commitRetryAttempts = commitRetryAttempts;
        }

        public int getRollbackRetryAttempts() {
            return rollbackRetryAttempts;
        }

        public void setRollbackRetryAttempts(int rollbackRetryAttempts) {
            this.rollbackRetryAttempts = rollbackRetryAttempts;
        }

        public Duration getRetryBackoff() {
            return retryBackoff;
        }

        public void setRetryBackoff(Duration retryBackoff) {
            this.retryBackoff = retryBackoff;
        }

        public int getAdvisorOrder() {
            return advisorOrder;
        }

        public void setAdvisorOrder(int advisorOrder) {
            this.advisorOrder = advisorOrder;
        }
    }
}
