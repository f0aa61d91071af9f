package io.cohort.protocol;

import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Key and trust managers over PEM files that are read again whenever they change on disk, so a
 * rotated certificate (cert-manager renewing a Kubernetes Secret, say) serves every new TLS
 * connection without a restart; open connections keep the certificate they started with. Shared
 * by the TC and its clients. A file that is unreadable at start is an error naming its setting; one
 * that breaks later is logged by gRPC and the previous certificate stays in use.
 */
public final class PemTls {

    /** One daemon thread per process checks every watched file for changes. */
    private static final ScheduledExecutorService WATCHER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "cohort-tls-reload");
        t.setDaemon(true);
        return t;
    });

    private PemTls() {
    }

    /**
     * The certificate chain and private key (PKCS#8 PEM) this side presents.
     *
     * @param setting the settings' common prefix, for messages (e.g. {@code cohort.tc.tls})
     */
    public static X509ExtendedKeyManager keyManager(Path certificate, Path privateKey, Duration refresh,
                                                    String setting) {
        requireFile(certificate, setting + ".certificate");
        requireFile(privateKey, setting + ".private-key");
        AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
        try {
            keys.updateIdentityCredentials(certificate.toFile(), privateKey.toFile(), refresh.toMillis(),
                    TimeUnit.MILLISECONDS, WATCHER);
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            throw new IllegalArgumentException("Cannot load the TLS certificate " + certificate + " (" + setting
                    + ".certificate) with its key " + privateKey + " (" + setting + ".private-key): " + e.getMessage()
                    + ". Both must be PEM: the certificate chain, leaf first, and an unencrypted PKCS#8 key "
                    + "('BEGIN PRIVATE KEY'; convert with openssl pkcs8 -topk8 -nocrypt)", e);
        }
        return keys;
    }

    /**
     * The CA certificates (PEM, one or more) that the peer's chain must lead to.
     *
     * @param checkHostName whether the peer's certificate must also name the host dialled (a client
     *                      checking the TC); a TC checking its clients looks at the chain only
     */
    public static X509ExtendedTrustManager trustManager(Path caCertificates, Duration refresh, boolean checkHostName,
                                                        String setting) {
        requireFile(caCertificates, setting);
        try {
            AdvancedTlsX509TrustManager trust = AdvancedTlsX509TrustManager.newBuilder()
                    .setVerification(checkHostName
                            ? AdvancedTlsX509TrustManager.Verification.CERTIFICATE_AND_HOST_NAME_VERIFICATION
                            : AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION)
                    .build();
            trust.updateTrustCredentials(caCertificates.toFile(), refresh.toMillis(), TimeUnit.MILLISECONDS, WATCHER);
            return trust;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            throw new IllegalArgumentException("Cannot load the CA certificates " + caCertificates + " (" + setting
                    + "): " + e.getMessage() + ". The file must hold PEM certificates ('BEGIN CERTIFICATE')", e);
        }
    }

    private static void requireFile(Path file, String setting) {
        if (file == null || file.toString().isBlank()) {
            throw new IllegalArgumentException(setting + " is not set: name a PEM file");
        }
        if (!Files.isReadable(file)) {
            throw new IllegalArgumentException(setting + "=" + file + ": no readable file there"
                    + (Files.exists(file) ? " (check its permissions)" : ""));
        }
    }
}
