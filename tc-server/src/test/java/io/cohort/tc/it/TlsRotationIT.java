package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClientConfig;
import io.cohort.client.TcTls;
import io.cohort.protocol.PemTls;
import io.cohort.testsupport.TcProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import javax.net.ssl.X509ExtendedTrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Certificates rotated on disk while a TC that requires client certificates runs, on both sides of
 * the connection, without a restart: the TC's own certificate and the client CA it trusts (files
 * the TC reads), and a service's own client certificate (files the service reads, through the same
 * cached credentials its TM calls and RM streams use).
 *
 * <p>One TC serves both tests, which are written to pass in either order: the service's
 * client certificates come from {@code old}, which the TC trusts before and after its client CA
 * is rotated, and the service trusts both the old and the new server CA.
 */
class TlsRotationIT {

    static final Duration REFRESH = Duration.ofMillis(200);

    @TempDir
    static Path dir;
    static TestCertificates maker;
    static TestCertificates.Pem oldCa;
    static TestCertificates.Pem newCa;
    static TestCertificates.Pem strangerCa;
    static Path liveCertificate;
    static Path livePrivateKey;
    static Path liveClientCa;
    static TcProcess tc;

    @BeforeAll
    static void startTc() throws IOException {
        maker = new TestCertificates(Files.createDirectories(dir.resolve("certs")));
        oldCa = maker.ca("old");
        newCa = maker.ca("new");
        strangerCa = maker.ca("stranger");
        TestCertificates.Pem oldServer = maker.issue(oldCa, "tc-old", "localhost", "DNS:localhost", "IP:127.0.0.1");

        // What the TC reads: rewritten in place below, as a mounted Secret is.
        Path live = Files.createDirectories(dir.resolve("live"));
        liveCertificate = Files.copy(oldServer.certificate(), live.resolve("tls.crt"));
        livePrivateKey = Files.copy(oldServer.privateKey(), live.resolve("tls.key"));
        liveClientCa = Files.copy(oldCa.certificate(), live.resolve("ca.crt"));
        tc = TcProcess.embedded(Files.createDirectories(dir.resolve("tc")).resolve("data"),
                "--cohort.tc.tls.enabled=true", "--cohort.tc.tls.certificate=" + liveCertificate,
                "--cohort.tc.tls.private-key=" + livePrivateKey, "--cohort.tc.tls.client-ca=" + liveClientCa,
                "--cohort.tc.tls.client-auth=require", "--cohort.tc.tls.refresh-interval=" + REFRESH.toMillis() + "ms",
                TlsIT.PATIENT_HANDSHAKES).start();
    }

    @AfterAll
    static void stopTc() {
        if (tc != null) {
            tc.close();
        }
    }

    @Test
    void rotatedServerCertificateAndClientCaServeNewConnectionsWithoutARestart() {
        TestCertificates.Pem newServer = maker.issue(newCa, "tc-new", "localhost", "DNS:localhost", "IP:127.0.0.1");
        TestCertificates.Pem clientOfOldCa = maker.issue(oldCa, "client-old", "svc");
        TestCertificates.Pem clientOfNewCa = maker.issue(newCa, "client-new", "svc");
        Path bothCas = TestCertificates.concat(dir.resolve("both-ca.pem"), oldCa.certificate(), newCa.certificate());

        TcClientConfig trustsOld = config(TcTls.trusting(oldCa.certificate())
                .withClientCertificate(clientOfOldCa.certificate(), clientOfOldCa.privateKey()));
        TcClientConfig trustsNew = config(TcTls.trusting(newCa.certificate())
                .withClientCertificate(clientOfOldCa.certificate(), clientOfOldCa.privateKey()));
        TcClientConfig certOfNewCa = config(TcTls.trusting(oldCa.certificate())
                .withClientCertificate(clientOfNewCa.certificate(), clientOfNewCa.privateKey()));
        assertThat(TlsIT.refusedAtConnection(trustsOld)).as("mutual TLS with the current certificates").isFalse();
        assertThat(TlsIT.refusedAtConnection(config(TcTls.trusting(oldCa.certificate()))))
                .as("no client certificate while the TC requires one").isTrue();
        assertThat(TlsIT.refusedAtConnection(trustsNew)).as("a client trusting only the new CA, before rotation").isTrue();
        assertThat(TlsIT.refusedAtConnection(certOfNewCa)).as("a certificate of the new CA, before it is trusted").isTrue();

        TestCertificates.replace(liveCertificate, newServer.certificate());
        TestCertificates.replace(livePrivateKey, newServer.privateKey());
        awaitRotation(() -> !TlsIT.refusedAtConnection(trustsNew), () -> "a new connection to get the rotated server certificate");
        assertThat(TlsIT.refusedAtConnection(trustsOld)).as("the old server certificate is gone").isTrue();

        TestCertificates.replace(liveClientCa, bothCas);
        awaitRotation(() -> !TlsIT.refusedAtConnection(config(TcTls.trusting(newCa.certificate())
                        .withClientCertificate(clientOfNewCa.certificate(), clientOfNewCa.privateKey()))),
                () -> "a client certificate of the newly trusted CA to be accepted");
        assertThat(TlsIT.refusedAtConnection(trustsNew)).as("the old CA's client certificates stay trusted").isFalse();
    }

    /**
     * A service (TM or RM side) whose own certificate is renewed on disk: its next connection
     * presents the new one, through the same credentials (one set per TLS configuration in the
     * process) that its channels already use. First a renewal that keeps the private key, so only
     * the certificate file changes; then a new certificate with a new key.
     */
    @Test
    void aServicesRotatedClientCertificateIsPresentedOnItsNextConnectionWithoutARestart() throws IOException {
        TestCertificates.Pem untrusted = maker.issue(strangerCa, "svc-stranger", "svc");
        TestCertificates.Pem renewedByTrustedCa = maker.renew(oldCa, untrusted, "svc-renewed", "svc");
        TestCertificates.Pem untrustedNewKey = maker.issue(strangerCa, "svc-stranger-2", "svc");
        Path serverCas = TestCertificates.concat(dir.resolve("server-cas.pem"), oldCa.certificate(), newCa.certificate());

        // What the service reads.
        Path live = Files.createDirectories(dir.resolve("service"));
        Path certificate = Files.copy(untrusted.certificate(), live.resolve("tls.crt"));
        Path privateKey = Files.copy(untrusted.privateKey(), live.resolve("tls.key"));
        // Deployed together, with one modification time (an unpacked archive, `cp -p`, a volume
        // written within one millisecond); the renewal below rewrites tls.crt only.
        FileTime deployed = FileTime.fromMillis(System.currentTimeMillis() - 3_600_000);
        Files.setLastModifiedTime(certificate, deployed);
        Files.setLastModifiedTime(privateKey, deployed);
        TcClientConfig service = config(TcTls.trusting(serverCas).withClientCertificate(certificate, privateKey));
        assertThat(TlsIT.refusedAtConnection(service)).as("a certificate of a CA the TC does not trust").isTrue();
        awaitACheckInThisProcess(live);

        TestCertificates.replace(certificate, renewedByTrustedCa.certificate());
        awaitRotation(() -> !TlsIT.refusedAtConnection(service),
                () -> "the service to present its renewed certificate (same key, only tls.crt rewritten)");

        TestCertificates.replace(certificate, untrustedNewKey.certificate());
        TestCertificates.replace(privateKey, untrustedNewKey.privateKey());
        awaitRotation(() -> TlsIT.refusedAtConnection(service),
                () -> "the service to present its rotated certificate and key (of a CA the TC does not trust)");
    }

    /**
     * Returns once this process (the service side) has checked all its PEM files after the call:
     * they are checked on one thread in the order the checks fall due, so a probe CA file watched
     * from now on and rewritten is reloaded after every other file's next check; a second probe
     * covers a check that was running at the time of the call.
     */
    static void awaitACheckInThisProcess(Path dir) throws IOException {
        for (int i = 0; i < 2; i++) {
            Path probe = Files.copy(oldCa.certificate(), Files.createTempFile(dir, "probe", ".crt"),
                    StandardCopyOption.REPLACE_EXISTING);
            Files.setLastModifiedTime(probe, FileTime.fromMillis(System.currentTimeMillis() - 3_600_000));
            X509ExtendedTrustManager trust = PemTls.trustManager(probe, REFRESH, false, "probe");
            TestCertificates.replace(probe, newCa.certificate());
            awaitRotation(() -> trust.getAcceptedIssuers()[0].getSubjectX500Principal().getName().equals("CN=new"),
                    () -> "a check of the PEM files in this process");
        }
    }

    /**
     * Waits for a rotation to show: the files are checked every {@link #REFRESH}, and one attempt
     * is a fresh connection bounded by the client's call timeout. The deadline allows the suite's
     * load allowance on top of a few of each.
     */
    static void awaitRotation(BooleanSupplier condition, Supplier<String> what) {
        Duration deadline = CoordinatorScenarios.AWAIT_DEADLINE.plus(REFRESH.multipliedBy(5))
                .plus(TlsIT.CALL_TIMEOUT.multipliedBy(2));
        long start = System.nanoTime();
        long end = start + deadline.toNanos();
        int attempts = 1;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("Timed out after " + deadline + " (" + attempts + " attempts) waiting for "
                        + what.get() + " (files checked every " + REFRESH + ")");
            }
            TestRm.sleep(REFRESH.toMillis() / 4);
            attempts++;
        }
        System.out.printf("awaitRotation: %s after %d ms, %d attempts%n", what.get(),
                Duration.ofNanos(System.nanoTime() - start).toMillis(), attempts);
    }

    static TcClientConfig config(TcTls tls) {
        return TlsIT.config(tc.grpcAddress(), "", tls.enabled() ? tls.withRefreshInterval(REFRESH) : tls);
    }
}
