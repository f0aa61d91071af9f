package io.cohort.client;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * How to reach the TC.
 *
 * @param address        {@code host:port}, a comma-separated list of them, or a gRPC target such as
 *                       {@code dns:///cohort-tc-headless.ns.svc:8091} (every replica behind the name)
 * @param applicationId  this service's name, shown in the TC's API
 * @param authToken      bearer token when the TC requires one, else empty
 * @param callTimeout    deadline of one call to the TC
 * @param retryAttempts  attempts for calls that are safe to repeat (at least 1)
 * @param retryBackoff   first wait between attempts; doubles each time
 * @param tls            plaintext or TLS (and mutual TLS) to the TC
 * @param callsStream    send every call as a frame on one long-lived stream per TC replica (protocol
 *                       minor 9; an older TC gets unary calls) instead of one HTTP/2 stream per call
 */
public record TcClientConfig(
        String address,
        String applicationId,
        String authToken,
        Duration callTimeout,
        int retryAttempts,
        Duration retryBackoff,
        TcTls tls,
        boolean callsStream) {

    public TcClientConfig {
        if (address == null || address.isBlank()) {
            throw new IllegalArgumentException("cohort.tc.address is empty: set it to the TC's host:port, "
                    + "e.g. localhost:8091");
        }
        if (applicationId == null || applicationId.isBlank()) {
            throw new IllegalArgumentException("cohort.application-id is empty: name this service");
        }
        authToken = authToken == null ? "" : authToken;
        callTimeout = callTimeout == null ? Duration.ofSeconds(5) : callTimeout;
        if (callTimeout.isNegative() || callTimeout.isZero()) {
            throw new IllegalArgumentException("cohort.tc.call-timeout must be positive, was " + callTimeout
                    + ": set the deadline of one call to the TC, e.g. 5s");
        }
        if (retryAttempts < 1) {
            throw new IllegalArgumentException("cohort.tc.retry-attempts must be at least 1, was " + retryAttempts
                    + " (1 means no retry)");
        }
        retryBackoff = retryBackoff == null ? Duration.ofMillis(100) : retryBackoff;
        if (retryBackoff.toMillis() < 1) {
            throw new IllegalArgumentException("cohort.tc.retry-backoff must be at least 1 ms, was " + retryBackoff
                    + ": set the first wait between attempts, e.g. 100ms");
        }
        tls = tls == null ? TcTls.PLAINTEXT : tls;
    }

    /** Calls on the Calls stream (the default). */
    public TcClientConfig(String address, String applicationId, String authToken, Duration callTimeout,
                          int retryAttempts, Duration retryBackoff, TcTls tls) {
        this(address, applicationId, authToken, callTimeout, retryAttempts, retryBackoff, tls, true);
    }

    /** Plaintext to the TC. */
    public TcClientConfig(String address, String applicationId, String authToken, Duration callTimeout,
                          int retryAttempts, Duration retryBackoff) {
        this(address, applicationId, authToken, callTimeout, retryAttempts, retryBackoff, TcTls.PLAINTEXT);
    }

    public TcClientConfig withTls(TcTls tls) {
        return new TcClientConfig(address, applicationId, authToken, callTimeout, retryAttempts, retryBackoff, tls,
                callsStream);
    }

    /** {@code false}: one unary gRPC call per call to the TC, as before protocol minor 9. */
    public TcClientConfig withCallsStream(boolean callsStream) {
        return new TcClientConfig(address, applicationId, authToken, callTimeout, retryAttempts, retryBackoff, tls,
                callsStream);
    }

    public static TcClientConfig of(String address, String applicationId) {
        return new TcClientConfig(address, applicationId, "", Duration.ofSeconds(5), 3, Duration.ofMillis(100));
    }

    /** The addresses as listed ({@code host:port} entries, or the single gRPC target). */
    public List<String> addresses() {
        return Arrays.stream(address.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }
}
