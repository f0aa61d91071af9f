package io.cohort.client;

import java.nio.file.Path;
import java.time.Duration;

/**
 * How a client secures its gRPC connections to the TC. Off: plaintext (the default, for a TC
 * without {@code cohort.tc.tls.enabled}). On: TLS, checking that the TC's certificate leads to
 * {@code trustCa} (or, without it, to a CA the JVM trusts) and names the host dialled; with a
 * {@code certificate} and {@code privateKey} the client also proves who it is (mutual TLS). The
 * PEM files are read again when they change, for the next connection.
 *
 * @param enabled         whether to use TLS
 * @param trustCa         PEM file of the CA certificates the TC's certificate must lead to; null for the JVM's
 * @param certificate     PEM certificate chain this client presents (mutual TLS); null for none
 * @param privateKey      its unencrypted PKCS#8 PEM key; set exactly when {@code certificate} is
 * @param serverName      host name the TC's certificate must carry when it differs from the dialled
 *                        address (e.g. dialling an IP); empty to check the dialled host
 * @param refreshInterval how often the files are checked for changes
 */
public record TcTls(boolean enabled, Path trustCa, Path certificate, Path privateKey, String serverName,
                    Duration refreshInterval) {

    public static final TcTls PLAINTEXT = new TcTls(false, null, null, null, "", null);

    public TcTls {
        serverName = serverName == null ? "" : serverName.trim();
        refreshInterval = refreshInterval == null ? Duration.ofMinutes(1) : refreshInterval;
        if (refreshInterval.isNegative() || refreshInterval.isZero()) {
            throw new IllegalArgumentException("cohort.tc.tls.refresh-interval must be positive, was " + refreshInterval);
        }
        if (!enabled && (trustCa != null || certificate != null || privateKey != null)) {
            throw new IllegalArgumentException("cohort.tc.tls.* files are set but cohort.tc.tls.enabled is false: the "
                    + "client would talk plaintext. Set cohort.tc.tls.enabled=true, or remove the files");
        }
        if ((certificate == null) != (privateKey == null)) {
            throw new IllegalArgumentException("cohort.tc.tls.certificate and cohort.tc.tls.private-key go together "
                    + "(mutual TLS): set both or neither");
        }
    }

    /** TLS trusting the CAs in {@code trustCa}, without a client certificate. */
    public static TcTls trusting(Path trustCa) {
        return new TcTls(true, trustCa, null, null, "", null);
    }

    /** The same, presenting {@code certificate} with {@code privateKey} (mutual TLS). */
    public TcTls withClientCertificate(Path certificate, Path privateKey) {
        return new TcTls(true, trustCa, certificate, privateKey, serverName, refreshInterval);
    }

    public TcTls withRefreshInterval(Duration interval) {
        return new TcTls(enabled, trustCa, certificate, privateKey, serverName, interval);
    }
}
