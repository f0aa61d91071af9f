package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.client.TcProbe;
import io.cohort.client.TcTls;
import io.cohort.client.TcUnavailableException;
import io.cohort.protocol.PemTls;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS, mutual TLS and per-service identities on a real TC process over real sockets: gRPC on the
 * one side, HTTPS on the REST port on the other. Certificates are made by {@link TestCertificates}
 * at test time.
 *
 * <p>The shared TC asks for client certificates optionally: a client may come with the shared
 * token over plain TLS, or with a certificate naming its service. Services: {@code bank-a} (by
 * certificate) serves {@link #BANK_A}, {@code bank-b} (by certificate) the databases on db2, and
 * {@code svc-c} (by token) {@link #BANK_C}.
 */
class TlsIT {

    static final String SHARED_TOKEN = "shared-secret-4b1d";
    static final String C_TOKEN = "svc-c-secret-88e0";
    static final String BANK_A = "jdbc:postgresql://db1/bank_a";
    static final String BANK_B = "jdbc:postgresql://db2/bank_b";
    static final String BANK_C = "jdbc:postgresql://db3/bank_c";

    @TempDir
    static Path dir;
    static TestCertificates.Pem ca;
    static TestCertificates.Pem otherCa;
    static TestCertificates.Pem bankA;
    static TestCertificates.Pem bankB;
    static TestCertificates.Pem bankAFromOtherCa;
    static TcProcess tc;

    @BeforeAll
    static void startTc() throws IOException {
        Path certs = Files.createDirectories(dir.resolve("certs"));
        TestCertificates maker = new TestCertificates(certs);
        ca = maker.ca("cohort-test");
        otherCa = maker.ca("other");
        TestCertificates.Pem server = maker.issue(ca, "tc", "localhost", "DNS:localhost", "IP:127.0.0.1");
        bankA = maker.issue(ca, "bank-a", "bank-a");
        bankB = maker.issue(ca, "bank-b", "bank-b", "DNS:bank-b");
        bankAFromOtherCa = maker.issue(otherCa, "bank-a-forged", "bank-a");
        tc = TcProcess.embedded(Files.createDirectories(dir.resolve("tc")).resolve("data"),
                "--cohort.tc.tls.enabled=true",
                "--cohort.tc.tls.certificate=" + server.certificate(),
                "--cohort.tc.tls.private-key=" + server.privateKey(),
                "--cohort.tc.tls.client-ca=" + ca.certificate(),
                "--cohort.tc.tls.client-auth=optional", PATIENT_HANDSHAKES,
                "--cohort.tc.auth.token=" + SHARED_TOKEN,
                "--cohort.tc.auth.clients.bank-a.resources=" + BANK_A,
                "--cohort.tc.auth.clients.bank-b.resources=jdbc:postgresql://db2/*",
                "--cohort.tc.auth.clients.svc-c.token=" + C_TOKEN,
                "--cohort.tc.auth.clients.svc-c.resources=" + BANK_C,
                // The REST port over HTTPS, through a Spring Boot SSL bundle on the same PEM files.
                "--spring.ssl.bundle.pem.tc.keystore.certificate=file:" + server.certificate(),
                "--spring.ssl.bundle.pem.tc.keystore.private-key=file:" + server.privateKey(),
                "--server.ssl.bundle=tc").start();
    }

    @AfterAll
    static void stopTc() {
        if (tc != null) {
            tc.close();
        }
    }

    /**
     * The TC's handshake timeout in these tests: longer than a client's call timeout, so that a
     * handshake the loaded machine is slow to finish ends in the client's DEADLINE_EXCEEDED (no
     * verdict, asked again) rather than in the TC closing the connection (read as a refusal).
     */
    static final String PATIENT_HANDSHAKES = "--cohort.tc.connections.handshake-timeout="
            + CoordinatorScenarios.AWAIT_DEADLINE.toMillis() + "ms";

    /** Each test client's call timeout: one attempt at connecting and asking. */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    static TcClientConfig config(String address, String token, TcTls tls) {
        return new TcClientConfig(address, "tls-it", token, CALL_TIMEOUT, 1, Duration.ofMillis(50), tls);
    }

    static TcTls trustingCa() {
        return TcTls.trusting(ca.certificate());
    }

    static TcTls as(TestCertificates.Pem client) {
        return trustingCa().withClientCertificate(client.certificate(), client.privateKey());
    }

    /** Begins, registers a branch of {@code resource}, commits, and waits for the RM's commit to end it. */
    static String commitOneTransaction(TcClient tm, TcClient rmClient, String resource) {
        String xid = tm.begin("tls", Duration.ofSeconds(60), TransactionProtocol.TWO_PHASE);
        rmClient.registerBranch(xid, resource, List.of("account:" + System.nanoTime()), new byte[0], "rm");
        tm.commit(xid);
        CoordinatorScenarios.await(() -> tm.status(xid).getStatus() == GlobalStatusCode.GLOBAL_COMMITTED,
                () -> xid + " to commit");
        return xid;
    }

    /**
     * Whether a fresh client with {@code config} is turned away before the TC answers anything
     * (the connection or its TLS handshake fails: UNAVAILABLE). A call that merely ran out of its
     * deadline (DEADLINE_EXCEEDED: a loaded TC, or a slow first handshake, did not answer within
     * the client's call timeout) is no verdict either way: it is asked again, within
     * {@link CoordinatorScenarios#AWAIT_DEADLINE} plus one call timeout.
     */
    static boolean refusedAtConnection(TcClientConfig config) {
        long deadline = System.nanoTime() + CoordinatorScenarios.AWAIT_DEADLINE.plus(config.callTimeout()).toNanos();
        while (true) {
            try (TcClient client = new TcClient(config)) {
                client.status("127.0.0.1:1:1");
                return false;
            } catch (TcUnavailableException e) {
                if (!(e.getCause() instanceof StatusRuntimeException s)
                        || s.getStatus().getCode() != Status.Code.DEADLINE_EXCEEDED) {
                    return true;
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("No verdict from the TC at " + config.address() + " (every call ran out of "
                            + "its " + config.callTimeout() + " deadline)", e);
                }
                System.out.println(java.time.Instant.now() + " refusedAtConnection: no answer within "
                        + config.callTimeout() + ", asking again: " + e.getMessage());
            } catch (TcException answered) {
                return false; // the TC answered (an unknown XID): the connection was accepted
            }
        }
    }

    @Test
    void aTlsClientWithTheSharedTokenRunsATransactionAndItsRmGetsTheCommit() {
        TcClientConfig config = config(tc.grpcAddress(), SHARED_TOKEN, trustingCa());
        try (TcClient tm = new TcClient(config); TestRm rm = new TestRm(config, "rm-shared", List.of(BANK_C))) {
            String xid = commitOneTransaction(tm, tm, BANK_C);
            assertThat(rm.receivedFor(xid)).as("the commit reached the RM over its TLS stream").hasSize(1);
            try (TcProbe probe = new TcProbe(config, Duration.ofSeconds(10))) {
                assertThat(probe.status(xid).getStatus()).as("the 3PC probe over TLS")
                        .isEqualTo(GlobalStatusCode.GLOBAL_COMMITTED);
            }
            // A list of replicas: each is checked against its own name (both are in the TC's certificate).
            String replicas = "localhost:" + tc.grpcPort() + ",127.0.0.1:" + tc.grpcPort();
            try (TcClient listed = new TcClient(config(replicas, SHARED_TOKEN, trustingCa()))) {
                for (int i = 0; i < 4; i++) {
                    assertThat(listed.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_COMMITTED);
                }
            }
        }
    }

    @Test
    void aServiceKnownByItsClientCertificateRunsATransactionWithoutAToken() {
        TcClientConfig config = config(tc.grpcAddress(), "", as(bankA));
        try (TcClient client = new TcClient(config); TestRm rm = new TestRm(config, "rm-bank-a", List.of(BANK_A))) {
            String xid = commitOneTransaction(client, client, BANK_A);
            assertThat(rm.receivedFor(xid)).hasSize(1);
        }
    }

    @Test
    void aPlaintextClientIsRefusedEvenWithTheToken() {
        assertThat(refusedAtConnection(config(tc.grpcAddress(), SHARED_TOKEN, TcTls.PLAINTEXT))).isTrue();
        assertThat(refusedAtConnection(config(tc.grpcAddress(), SHARED_TOKEN, trustingCa()))).as("the same over TLS").isFalse();
    }

    @Test
    void aClientCertificateFromAnotherCaIsRefusedEvenWithTheToken() {
        assertThat(refusedAtConnection(config(tc.grpcAddress(), SHARED_TOKEN, as(bankAFromOtherCa)))).isTrue();
    }

    @Test
    void aClientThatDoesNotTrustTheTcsCaDoesNotConnect() {
        assertThat(refusedAtConnection(config(tc.grpcAddress(), SHARED_TOKEN, TcTls.trusting(otherCa.certificate()))))
                .isTrue();
    }

    @Test
    void withoutATokenOrANamedCertificateACallIsUnauthenticated() {
        TcClientConfig anonymous = config(tc.grpcAddress(), "", trustingCa());
        try (TcClient client = new TcClient(anonymous)) {
            assertThatThrownBy(() -> client.status("127.0.0.1:1:1")).isInstanceOfSatisfying(TcException.class,
                    e -> assertThat(e.errorCode()).isEqualTo(ErrorCode.UNAUTHENTICATED));
        }
        try (TcClient mixed = new TcClient(config(tc.grpcAddress(), C_TOKEN, as(bankA)))) {
            assertThatThrownBy(() -> mixed.status("127.0.0.1:1:1")).as("the token of one service, the certificate of another")
                    .isInstanceOfSatisfying(TcException.class, e -> assertThat(e.errorCode()).isEqualTo(ErrorCode.UNAUTHENTICATED));
        }
    }

    /**
     * bank-a announces bank_b, which only bank-b serves: its stream is closed with
     * PERMISSION_DENIED, and a transaction with a bank_b branch is committed through bank-b's RM
     * without a message to the impostor. Registering (and marking rollback-only) for a resource
     * the caller does not serve is refused the same way, by certificate or by token.
     */
    @Test
    void aServiceMayNotAnnounceOrRegisterAResourceItDoesNotServe() throws Exception {
        TcClientConfig asB = config(tc.grpcAddress(), "", as(bankB));
        try (ForgingRm impostor = new ForgingRm(channel(bankA), null, "rm-impostor", BANK_A, BANK_B);
             TestRm owner = new TestRm(asB, "rm-bank-b", List.of(BANK_B));
             TcClient tm = new TcClient(config(tc.grpcAddress(), SHARED_TOKEN, trustingCa()));
             TcClient clientB = new TcClient(asB);
             TcClient clientA = new TcClient(config(tc.grpcAddress(), "", as(bankA)));
             TcClient clientC = new TcClient(config(tc.grpcAddress(), C_TOKEN, trustingCa()));
             TestRm rmC = new TestRm(config(tc.grpcAddress(), C_TOKEN, trustingCa()), "rm-c", List.of(BANK_C))) {
            Status refused = impostor.closedByTc.get(60, TimeUnit.SECONDS);
            assertThat(refused.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
            assertThat(refused.getDescription()).contains("bank-a").contains(BANK_B);
            assertThat(impostor.closingTrailers.get(Protocol.ERROR_CODE_TRAILER)).isEqualTo("PERMISSION_DENIED");

            String xid = commitOneTransaction(tm, clientB, BANK_B);
            assertThat(owner.receivedFor(xid)).hasSize(1);
            assertThat(impostor.received).as("messages to the refused stream").isEmpty();

            String other = tm.begin("tls", Duration.ofSeconds(60), TransactionProtocol.TWO_PHASE);
            for (var attempt : List.<Runnable>of(
                    () -> clientA.registerBranch(other, BANK_B, List.of("account:1"), new byte[0], "rm-impostor"),
                    () -> clientA.markRollbackOnly(other, BANK_B, "forged"),
                    () -> clientC.registerBranch(other, BANK_A, List.of("account:1"), new byte[0], "rm-c"))) {
                assertThatThrownBy(attempt::run).isInstanceOfSatisfying(TcException.class, e -> {
                    assertThat(e.errorCode()).isEqualTo(ErrorCode.PERMISSION_DENIED);
                    assertThat(e).hasMessageContaining("PERMISSION_DENIED");
                });
            }
            assertThat(tm.status(other).getStatus()).as("nothing was registered or doomed").isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            assertThat(clientC.registerBranch(other, BANK_C, List.of("account:1"), new byte[0], "rm-c").hasBranchId())
                    .as("svc-c, known by its token, registers for its own resource").isTrue();
            tm.rollback(other);
        }
    }

    /** A raw channel presenting {@code client}'s certificate, for a hand-written RM stream. */
    static ManagedChannel channel(TestCertificates.Pem client) {
        Duration refresh = Duration.ofMinutes(1);
        return NettyChannelBuilder.forTarget(tc.grpcAddress(), TlsChannelCredentials.newBuilder()
                .keyManager(PemTls.keyManager(client.certificate(), client.privateKey(), refresh, "test"))
                .trustManager(PemTls.trustManager(ca.certificate(), refresh, true, "test")).build()).build();
    }

    @Test
    void theRestPortServesHttpsAndNotPlainHttp() throws Exception {
        HttpClient https = HttpClient.newBuilder().sslContext(trusting(ca.certificate())).build();
        HttpRequest health = HttpRequest.newBuilder(URI.create("https://localhost:" + tc.httpPort() + "/actuator/health"))
                .timeout(Duration.ofSeconds(30)).build();
        // Tomcat is up before the gRPC port that TcProcess waited for.
        HttpResponse<String> answer = https.send(health, HttpResponse.BodyHandlers.ofString());
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.body()).contains("UP");

        RawHttp.Response plain = RawHttp.send(tc.httpPort(), "GET", "/actuator/health");
        assertThat(plain.status()).as("plain HTTP to the HTTPS port").isEqualTo(400);
        assertThat(plain.body()).doesNotContain("UP");
    }

    static SSLContext trusting(Path caPem) throws Exception {
        KeyStore trusted = KeyStore.getInstance(KeyStore.getDefaultType());
        trusted.load(null, null);
        try (InputStream in = Files.newInputStream(caPem)) {
            trusted.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        factory.init(trusted);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, factory.getTrustManagers(), null);
        return context;
    }
}
