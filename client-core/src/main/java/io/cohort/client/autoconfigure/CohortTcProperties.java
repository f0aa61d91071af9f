package io.cohort.client.autoconfigure;

import io.cohort.client.TcClientConfig;
import io.cohort.client.TcTls;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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
        checkAddress(tc.address);
        return new TcClientConfig(tc.address, name, tc.authToken, tc.callTimeout, tc.retryAttempts, tc.retryBackoff,
                tc.tls.toTcTls(), tc.callsStream);
    }

    private static final Pattern HOST_PORT = Pattern.compile("(\\[[^\\]]+\\]|[^:\\[\\]/]+):\\d{1,5}");
    private static final Pattern TARGET = Pattern.compile("[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*/(.*)");

    /**
     * Every entry needs a port: gRPC would otherwise dial 443 and the TM would warn every few
     * seconds about a TC it can never reach.
     */
    private static void checkAddress(String address) {
        if (address == null || address.isBlank()) {
            throw new IllegalStateException("cohort.tc.address is empty: set it to the TC's gRPC address, e.g. localhost:8091");
        }
        for (String entry : address.split(",")) {
            String trimmed = entry.trim();
            Matcher target = TARGET.matcher(trimmed);
            String hostPort = target.matches() ? target.group(1) : trimmed;
            if (trimmed.startsWith("unix:") || HOST_PORT.matcher(hostPort).matches()) {
                continue;
            }
            throw new IllegalStateException("cohort.tc.address '" + address + "': '" + trimmed + "' has no port; write "
                    + "host:port with the TC's gRPC port (cohort.tc.grpc-port on the TC, 8091 by default), e.g. "
                    + (target.matches() ? trimmed.substring(0, trimmed.length() - hostPort.length()) : "") + hostPort
                    + ":8091");
        }
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

        /**
         * Send every call as a frame on one long-lived stream per TC replica instead of one gRPC call
         * each (a TC older than protocol minor 9 gets unary calls); false: unary calls only.
         */
        private boolean callsStream = true;

        private final Tls tls = new Tls();

        public boolean isCallsStream() {
            return callsStream;
        }

        public void setCallsStream(boolean callsStream) {
            this.callsStream = callsStream;
        }

        public Tls getTls() {
            return tls;
        }

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

    /** TLS to the TC (needed when the TC has cohort.tc.tls.enabled); the PEM files are re-read when they change. */
    public static class Tls {

        /** Use TLS to the TC. */
        private boolean enabled;

        /** PEM file of the CA certificates the TC's certificate must lead to; empty for the JVM's trusted CAs. */
        private Path trustCa;

        /** PEM certificate chain this service presents to the TC (mutual TLS); empty for none. */
        private Path certificate;

        /** Unencrypted PKCS#8 PEM key of that certificate. */
        private Path privateKey;

        /** Host name the TC's certificate must carry when it is not the host in cohort.tc.address. */
        private String serverName = "";

        /** How often the PEM files are checked for changes (a rotated certificate serves new connections). */
        private Duration refreshInterval = Duration.ofMinutes(1);

        TcTls toTcTls() {
            return new TcTls(enabled, trustCa, certificate, privateKey, serverName, refreshInterval);
        }

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public Path getTrustCa() {
            return trustCa;
        }

        public void setTrustCa(Path trustCa) {
            this.trustCa = trustCa;
        }

        public Path getCertificate() {
            return certificate;
        }

        public void setCertificate(Path certificate) {
            this.certificate = certificate;
        }

        public Path getPrivateKey() {
            return privateKey;
        }

        public void setPrivateKey(Path privateKey) {
            this.privateKey = privateKey;
        }

        public String getServerName() {
            return serverName;
        }

        public void setServerName(String serverName) {
            this.serverName = serverName;
        }

        public Duration getRefreshInterval() {
            return refreshInterval;
        }

        public void setRefreshInterval(Duration refreshInterval) {
            this.refreshInterval = refreshInterval;
        }
    }
}
