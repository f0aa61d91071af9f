package io.cohort.client.autoconfigure;

import io.cohort.client.TcClientConfig;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The {@code cohort.*} properties every Cohort service has, TM or RM: whether Cohort is on, the
 * service's name, and how to reach the TC. The TM ({@code cohort.tm.*}) and the RM
 * ({@code cohort.rm.*}) bind their own parts.
 */
@ConfigurationProperties("cohort")
public class CohortTcProperties {

    /** Whether Cohort is active; false turns the TM, the RM and the TC client off. */
    private boolean enabled = true;

    /** This service's name, shown in the TC's API; defaults to spring.application.name. */
    private String applicationId;

    private final Tc tc = new Tc();

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

    /** The client configuration, with {@code spring.application.name} as the fallback name. */
    public TcClientConfig toClientConfig(String springApplicationName) {
        String name = applicationId;
        if (name == null || name.isBlank()) {
            name = springApplicationName;
        }
        if (name == null || name.isBlank()) {
            throw new IllegalStateException("Cohort needs this service's name: set cohort.application-id "
                    + "or spring.application.name (or cohort.enabled=false to turn Cohort off)");
        }
        return new TcClientConfig(tc.address, name, tc.authToken, tc.callTimeout, tc.retryAttempts, tc.retryBackoff);
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
}
