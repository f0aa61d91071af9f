package io.cohort.protocol;

import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import io.grpc.util.CertificateUtils;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Key and trust managers over PEM files that are read again whenever they change on disk, so a
 * rotated certificate (cert-manager renewing a Kubernetes Secret, say) serves every new TLS
 * connection without a restart; open connections keep the certificate they started with. Shared
 * by the TC and its clients. A file that is unreadable at start is an error naming its setting.
 *
 * <p>Every {@code refresh} the files are read whole and compared by content (not by modification
 * time: a copy that keeps the old time, or two writes within the clock's granularity, still count),
 * and a certificate is taken when either of its two files changed (a renewal that keeps the key
 * rewrites only the certificate). What was read is used only if it parses completely and, for a
 * certificate, its key belongs to it: a file caught half-written, or a certificate read between the
 * writes of a new certificate and its new key, leaves the previous one in use, is logged once, and
 * is read again at the next check. No failure stops the checking.
 */
public final class PemTls {

    private static final Logger LOG = Logger.getLogger(PemTls.class.getName());

    /** One daemon thread per process checks every watched file for changes. */
    private static final ScheduledExecutorService WATCHER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "cohort-tls-reload");
        t.setDaemon(true);
        return t;
    });

    private static final SecureRandom RANDOM = new SecureRandom();

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
        Reloader reloader = new Reloader(List.of(certificate, privateKey),
                "the TLS certificate " + certificate + " (" + setting + ".certificate) with its key " + privateKey
                        + " (" + setting + ".private-key)",
                contents -> {
                    X509Certificate[] chain = certificates(contents.get(0));
                    PrivateKey key = privateKey(contents.get(1));
                    requireKeyOf(chain[0], key);
                    keys.updateIdentityCredentials(chain, key);
                });
        try {
            reloader.load();
        } catch (Exception e) {
            throw new IllegalArgumentException("Cannot load the TLS certificate " + certificate + " (" + setting
                    + ".certificate) with its key " + privateKey + " (" + setting + ".private-key): " + reason(e)
                    + ". Both must be PEM: the certificate chain, leaf first, and an unencrypted PKCS#8 key "
                    + "('BEGIN PRIVATE KEY'; convert with openssl pkcs8 -topk8 -nocrypt) that belongs to it", e);
        }
        reloader.schedule(refresh);
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
        AdvancedTlsX509TrustManager trust;
        Reloader reloader;
        try {
            trust = AdvancedTlsX509TrustManager.newBuilder()
                    .setVerification(checkHostName
                            ? AdvancedTlsX509TrustManager.Verification.CERTIFICATE_AND_HOST_NAME_VERIFICATION
                            : AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION)
                    .build();
            reloader = new Reloader(List.of(caCertificates), "the CA certificates " + caCertificates + " (" + setting + ")",
                    contents -> trust.updateTrustCredentials(certificates(contents.get(0))));
            reloader.load();
        } catch (Exception e) {
            throw new IllegalArgumentException("Cannot load the CA certificates " + caCertificates + " (" + setting
                    + "): " + reason(e) + ". The file must hold PEM certificates ('BEGIN CERTIFICATE')", e);
        }
        reloader.schedule(refresh);
        return trust;
    }

    private static X509Certificate[] certificates(byte[] pem) throws GeneralSecurityException {
        X509Certificate[] certificates = CertificateUtils.getX509Certificates(new ByteArrayInputStream(pem));
        if (certificates.length == 0) {
            throw new GeneralSecurityException("no certificate in the file (" + pem.length + " bytes)");
        }
        return certificates;
    }

    private static PrivateKey privateKey(byte[] pem) throws GeneralSecurityException, IOException {
        String text = new String(pem, StandardCharsets.US_ASCII);
        if (!text.contains("-----BEGIN PRIVATE KEY-----") || !text.contains("-----END PRIVATE KEY-----")) {
            throw new GeneralSecurityException("no complete 'BEGIN PRIVATE KEY' block in the key file (" + pem.length
                    + " bytes)");
        }
        try {
            return CertificateUtils.getPrivateKey(new ByteArrayInputStream(pem));
        } catch (RuntimeException e) {
            throw new GeneralSecurityException("the private key is not well-formed PEM: " + reason(e), e);
        }
    }

    /**
     * Fails unless {@code key} is the private key of {@code leaf}: signs a random challenge and
     * checks it with the certificate's public key. Key types without a known signature here (none
     * that PEM loading accepts today) are compared by algorithm only.
     */
    static void requireKeyOf(X509Certificate leaf, PrivateKey key) throws GeneralSecurityException {
        PublicKey publicKey = leaf.getPublicKey();
        if (!publicKey.getAlgorithm().equals(key.getAlgorithm())) {
            throw new GeneralSecurityException("the private key (" + key.getAlgorithm() + ") does not belong to the "
                    + "certificate " + leaf.getSubjectX500Principal() + " (" + publicKey.getAlgorithm() + ")");
        }
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "Ed448", "EdDSA" -> key.getAlgorithm();
            default -> null;
        };
        if (algorithm == null) {
            return;
        }
        byte[] challenge = new byte[32];
        RANDOM.nextBytes(challenge);
        Signature signer = Signature.getInstance(algorithm);
        signer.initSign(key);
        signer.update(challenge);
        byte[] signature = signer.sign();
        Signature verifier = Signature.getInstance(algorithm);
        verifier.initVerify(publicKey);
        verifier.update(challenge);
        if (!verifier.verify(signature)) {
            throw new GeneralSecurityException("the private key does not belong to the certificate "
                    + leaf.getSubjectX500Principal());
        }
    }

    private static String reason(Exception e) {
        if (e instanceof NoSuchFileException) {
            return "no file at " + e.getMessage();
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
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

    /** Takes the files' contents, parsed, into use; throws when they are not usable. */
    @FunctionalInterface
    interface Apply {
        void accept(List<byte[]> contents) throws Exception;
    }

    /**
     * Reads a set of files whole and applies them when any one's content differs from what is in
     * use. Runs on {@link #WATCHER}; catches everything, since an exception escaping a periodic task
     * would cancel every later check without a word.
     */
    static final class Reloader implements Runnable {

        private final List<Path> files;
        private final String what;
        private final Apply apply;
        /** Digests of the contents in use, and of the last contents that could not be used. */
        private List<byte[]> inUse = List.of();
        private List<byte[]> rejected = List.of();
        /** The last problem logged, so that one that persists is logged once. */
        private String logged;

        Reloader(List<Path> files, String what, Apply apply) {
            this.files = files;
            this.what = what;
            this.apply = apply;
        }

        /** The first load, on the caller's thread: its failure is the caller's error. */
        void load() throws Exception {
            List<byte[]> contents = read();
            apply.accept(contents);
            inUse = digests(contents);
        }

        void schedule(Duration refresh) {
            WATCHER.scheduleWithFixedDelay(this, refresh.toMillis(), refresh.toMillis(), TimeUnit.MILLISECONDS);
        }

        @Override
        public void run() {
            List<byte[]> digests = null;
            try {
                List<byte[]> contents = read();
                digests = digests(contents);
                if (same(digests, inUse) || same(digests, rejected)) {
                    return;
                }
                apply.accept(contents);
                inUse = digests;
                rejected = List.of();
                logged = null;
                LOG.info(() -> "Reloaded " + what + ": new TLS connections use it");
            } catch (Exception e) {
                String problem = reason(e);
                if (!problem.equals(logged)) {
                    logged = problem;
                    LOG.log(Level.WARNING, "Cannot reload " + what + ": " + problem + ". The previous one stays in "
                            + "use; the files are read again every check (a rotation caught half-way is taken once "
                            + "it is complete)", e instanceof RuntimeException ? e : null);
                }
                if (digests != null) {
                    rejected = digests;
                }
            }
        }

        private List<byte[]> read() throws IOException {
            List<byte[]> contents = new ArrayList<>(files.size());
            for (Path file : files) {
                contents.add(Files.readAllBytes(file));
            }
            return contents;
        }

        private static List<byte[]> digests(List<byte[]> contents) throws NoSuchAlgorithmException {
            List<byte[]> digests = new ArrayList<>(contents.size());
            for (byte[] content : contents) {
                digests.add(MessageDigest.getInstance("SHA-256").digest(content));
            }
            return digests;
        }

        private static boolean same(List<byte[]> a, List<byte[]> b) {
            if (a.size() != b.size()) {
                return false;
            }
            for (int i = 0; i < a.size(); i++) {
                if (!Arrays.equals(a.get(i), b.get(i))) {
                    return false;
                }
            }
            return true;
        }
    }
}
