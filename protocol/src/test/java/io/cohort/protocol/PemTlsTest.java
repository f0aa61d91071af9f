package io.cohort.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reloading key and trust managers over real PEM files (made with the {@code openssl}
 * command), rewritten the ways operators and tools rewrite them: a certificate renewed with its
 * key kept, a copy that keeps the old modification time, a key file caught half-written by an
 * in-place copy, a new certificate read before its new key is written.
 *
 * <p>Whether a check has run since a change is seen through a probe: all files of a process are
 * checked on one thread, in the order their checks fall due, so once a probe created after the
 * change has reloaded, every watched file has been checked at least once after the change.
 */
class PemTlsTest {

    static final Duration REFRESH = Duration.ofMillis(50);
    /** A file change shows within a check or two; the rest allows for a loaded machine. */
    static final Duration DEADLINE = Duration.ofSeconds(60).plus(REFRESH.multipliedBy(10));

    @TempDir
    static Path certs;
    static Pem ca;
    static Pem otherCa;

    record Pem(Path certificate, Path privateKey) {
    }

    @BeforeAll
    static void makeCas() {
        ca = ca("ca");
        otherCa = ca("other-ca");
    }

    @Test
    void aCertificateRenewedWithItsKeyKeptIsServedThoughOnlyTheCertificateFileChanged(@TempDir Path live)
            throws IOException {
        Pem first = issue(ca, "renew-first", null);
        Pem renewed = issue(ca, "renew-second", first.privateKey());
        Path certificate = deployed(first.certificate(), live.resolve("tls.crt"));
        Path key = deployed(first.privateKey(), live.resolve("tls.key"));
        X509ExtendedKeyManager keys = PemTls.keyManager(certificate, key, REFRESH, "test.tls");
        assertThat(leaf(keys)).isEqualTo(certificate(first.certificate()));
        awaitACheck(live);

        replace(certificate, renewed.certificate());
        await(() -> leaf(keys).equals(certificate(renewed.certificate())), "the renewed certificate (same key)");
    }

    @Test
    void aCaFileRewrittenWithItsOldModificationTimeIsReloaded(@TempDir Path live) throws IOException {
        Path caFile = deployed(ca.certificate(), live.resolve("ca.crt"));
        FileTime before = Files.getLastModifiedTime(caFile);
        X509ExtendedTrustManager trust = PemTls.trustManager(caFile, REFRESH, false, "test.tls.client-ca");
        assertThat(trust.getAcceptedIssuers()).containsExactly(certificate(ca.certificate()));

        // As `cp -p`, `rsync -t` or unpacking an archive do: new content, the old file's time.
        replace(caFile, otherCa.certificate());
        Files.setLastModifiedTime(caFile, before);
        await(() -> Arrays.asList(trust.getAcceptedIssuers()).contains(certificate(otherCa.certificate())),
                "the new CA, written with the old modification time");
    }

    @Test
    void aKeyFileCaughtHalfWrittenMidRotationDoesNotStopLaterReloads(@TempDir Path live) throws IOException {
        Pem first = issue(ca, "half-first", null);
        Pem second = issue(ca, "half-second", null);
        Path certificate = deployed(first.certificate(), live.resolve("tls.crt"));
        Path key = deployed(first.privateKey(), live.resolve("tls.key"));
        X509ExtendedKeyManager keys = PemTls.keyManager(certificate, key, REFRESH, "test.tls");
        awaitACheck(live);

        // A key written in place, in pieces (a script writing line by line, a pipe): a check may read
        // the new certificate and the new key's first lines, its base64 cut one character into a
        // quantum (which gRPC's PEM reader fails on with an unchecked exception).
        replace(certificate, second.certificate());
        String newKey = Files.readString(second.privateKey());
        Files.writeString(key, newKey.substring(0, newKey.indexOf('\n') + 1 + 64 + 1 + 1));
        awaitACheck(live);
        assertThat(leaf(keys)).as("the previous certificate while the key is half-written")
                .isEqualTo(certificate(first.certificate()));

        Files.writeString(key, newKey);
        await(() -> leaf(keys).equals(certificate(second.certificate())), "the new certificate once its key is complete");
    }

    @Test
    void aNewCertificateIsNotServedWithTheOldKeyBeforeItsOwnKeyIsWritten(@TempDir Path live) throws IOException {
        Pem first = issue(ca, "pair-first", null);
        Pem second = issue(ca, "pair-second", null);
        Path certificate = deployed(first.certificate(), live.resolve("tls.crt"));
        Path key = deployed(first.privateKey(), live.resolve("tls.key"));
        Files.setLastModifiedTime(key, FileTime.fromMillis(DEPLOYED.toMillis() + 1_000)); // copied a second later
        X509ExtendedKeyManager keys = PemTls.keyManager(certificate, key, REFRESH, "test.tls");
        awaitACheck(live);

        replace(certificate, second.certificate());
        awaitACheck(live);
        assertThat(leaf(keys)).as("the previous, matching pair").isEqualTo(certificate(first.certificate()));
        assertThat(keys.getPrivateKey(alias(keys)).getEncoded()).as("with its own key")
                .isEqualTo(PemTlsTest.privateKeyDer(first.privateKey()));

        replace(key, second.privateKey());
        await(() -> leaf(keys).equals(certificate(second.certificate())), "the new pair once both files are written");
    }

    @Test
    void aKeyOfAnotherCertificateIsRefusedAtStartNamingBothSettings() throws IOException {
        Pem first = issue(ca, "start-first", null);
        Pem second = issue(ca, "start-second", null);
        org.assertj.core.api.Assertions.assertThatThrownBy(
                        () -> PemTls.keyManager(first.certificate(), second.privateKey(), REFRESH, "cohort.tc.tls"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cohort.tc.tls.certificate").hasMessageContaining("cohort.tc.tls.private-key")
                .hasMessageContaining("does not belong");
    }

    /**
     * Returns once every watched file has been checked after this call. A probe CA file created now
     * and then rewritten is reloaded by a check that falls due after every other file's next check;
     * a second probe, made once the first has reloaded, covers a check that was running at the
     * time of the call (the next one of that file falls due before the second probe's).
     */
    static void awaitACheck(Path live) throws IOException {
        for (int i = 0; i < 2; i++) {
            Path probe = deployed(ca.certificate(), Files.createTempFile(live, "probe", ".crt"));
            X509ExtendedTrustManager trust = PemTls.trustManager(probe, REFRESH, false, "probe");
            replace(probe, otherCa.certificate());
            await(() -> Arrays.asList(trust.getAcceptedIssuers()).contains(certificate(otherCa.certificate())),
                    "a check");
        }
    }

    /** When the files a test starts with were deployed: all of them at once, an hour ago. */
    static final FileTime DEPLOYED = FileTime.fromMillis(System.currentTimeMillis() - 3_600_000);

    /**
     * {@code source} copied to {@code target} and dated {@link #DEPLOYED}: files deployed together
     * carry one modification time (an unpacked archive, {@code cp -p}, a volume written within one
     * millisecond), and a rewrite now has a later one.
     */
    static Path deployed(Path source, Path target) throws IOException {
        Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
        Files.setLastModifiedTime(target, DEPLOYED);
        return target;
    }

    static void await(BooleanSupplier condition, String what) {
        long end = System.nanoTime() + DEADLINE.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("Timed out after " + DEADLINE + " waiting for " + what + " (files checked every "
                        + REFRESH + ")");
            }
            try {
                Thread.sleep(REFRESH.toMillis() / 5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    static String alias(X509ExtendedKeyManager keys) {
        return keys.chooseEngineServerAlias("EC", null, null);
    }

    static X509Certificate leaf(X509ExtendedKeyManager keys) {
        return keys.getCertificateChain(alias(keys))[0];
    }

    static X509Certificate certificate(Path pem) {
        try {
            return (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(Files.readAllBytes(pem)));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] privateKeyDer(Path pem) {
        try {
            String base64 = Files.readString(pem).replaceAll("-----[A-Z ]+-----", "").replaceAll("\\s", "");
            return java.util.Base64.getDecoder().decode(base64);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Puts {@code source}'s content at {@code target} in one step (a temporary file moved over it). */
    static void replace(Path target, Path source) throws IOException {
        Path next = Files.createTempFile(target.getParent(), "next", ".pem");
        Files.copy(source, next, StandardCopyOption.REPLACE_EXISTING);
        Files.move(next, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    static Pem ca(String name) {
        Pem pem = new Pem(certs.resolve(name + ".pem"), certs.resolve(name + ".key"));
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", pem.privateKey().toString(), "-out", pem.certificate().toString(), "-days", "2",
                "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        return pem;
    }

    /** A leaf certificate signed by {@code issuer}, for a new key or for {@code existingKey}. */
    static Pem issue(Pem issuer, String name, Path existingKey) {
        Pem pem = new Pem(certs.resolve(name + ".pem"), existingKey != null ? existingKey : certs.resolve(name + ".key"));
        Path csr = certs.resolve(name + ".csr");
        if (existingKey != null) {
            openssl("req", "-new", "-key", existingKey.toString(), "-out", csr.toString(), "-subj", "/CN=" + name);
        } else {
            openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", pem.privateKey().toString(), "-out", csr.toString(), "-subj", "/CN=" + name);
        }
        openssl("x509", "-req", "-in", csr.toString(), "-CA", issuer.certificate().toString(), "-CAkey",
                issuer.privateKey().toString(), "-CAcreateserial", "-out", pem.certificate().toString(), "-days", "2");
        return pem;
    }

    static void openssl(String... args) {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        try {
            Process process = new ProcessBuilder(command).directory(certs.toFile()).redirectErrorStream(true).start();
            String output = new String(process.getInputStream().readAllBytes());
            if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
                throw new IllegalStateException("openssl " + String.join(" ", args) + " failed: " + output);
            }
        } catch (IOException e) {
            throw new IllegalStateException("These tests make their certificates with the openssl command, which "
                    + "could not run (install openssl): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
