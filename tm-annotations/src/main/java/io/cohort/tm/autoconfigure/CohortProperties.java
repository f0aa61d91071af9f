package io.cohort.tm.autoconfigure;

import io.cohort.tm.CommitProtocol;
import io.cohort.tm.aspect.GlobalTransactionalAdvisor;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/** The {@code cohort.*} properties of a service that uses Cohort. */
@ConfigurationProperties("cohort")
public class CohortProperties {

    /** Whether Cohort's TM is active; false leaves @GlobalTransactional methods untouched. */
    private boolean enabled = true;

    /** This service's name, shown in the TC's API; defaults to spring.application.name. */
    private String applicationId;

    private final Tc tc = new Tc();

    private final Tm tm = new Tm();

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public String getApplicationId() {
        return applicationId;
    }

    public void setApplicationId(String applicationId) {
        this.applicationId = applicationId;
    }

    public Tc getTc() {
        return tc;
    }

    public Tm getTm() {
        return tm;
    }

    /** How to reach the TC. */
    public static class Tc {

        /**
         * The TC's gRPC address: host:port, a comma-separated list of replicas, or a gRPC target
         * such as dns:///cohort-tc-headless.ns.svc:8091.
         */
        private String address = "localhost:8091";

        /** Bearer token sent to the TC when it requires authentication; empty for none. */
        private String authToken = "";

        /** Deadline of one call to the TC. */
        private Duration callTimeout = Duration.ofSeconds(5);

        /** Attempts for TC calls that are safe to repeat, when no TC answers (at least 1). */
        private int retryAttempts = 3;

        /** First wait between those attempts; doubles each time. */
        private Duration retryBackoff = Duration.ofMillis(100);

        public String getAddress() {
            return address;
        }

        public void setAddress(String address) {
            this.address = address;
        }

        public String getAuthToken() {
            return authToken;
        }

        public void setAuthToken(String authToken) {
            this.authToken = authToken;
        }

        public Duration getCallTimeout() {
            return callTimeout;
        }

        public void setCallTimeout(Duration callTimeout) {
            this.callTimeout = callTimeout;
        }

        public int getRetryAttempts() {
            return retryAttempts;
        }

        public void setRetryAttempts(int retryAttempts) {
            this.retryAttempts = retryAttempts;
        }

        public Duration getRetryBackoff() {
            return retryBackoff;
        }

        public void setRetryBackoff(Duration retryBackoff) {
            this.retryBackoff = retryBackoff;
        }
    }

    /** The transaction manager: @GlobalTransactional and GlobalTransactionTemplate. */
    public static class Tm {

        /** Timeout of a global transaction that does not name one; the TC rolls it back after that. */
        private Duration defaultTimeout = Duration.ofSeconds(60);

        /** Commit protocol of a global transaction that does not name one; DEFAULT leaves it to the TC. */
        private CommitProtocol defaultProtocol = CommitProtocol.DEFAULT;

        /** Times the TM asks the TC to commit before it reports the outcome as unknown. */
        private int commitRetryAttempts = 5;

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
