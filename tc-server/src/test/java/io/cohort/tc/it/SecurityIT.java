package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.Xid;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.web.servlet.mvc.method.RequestMappingInfo;
import org.springframework.web.servlet.mvc.method.RequestMappingInfoHandlerMapping;

/**
 * The attacks of issue 12 against a real TC (the whole application, real HTTP and gRPC on
 * loopback): each asserts the fixed behaviour.
 */
@ExtendWith(OutputCaptureExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SecurityIT {

    static final String CLIENT_TOKEN = "client-secret-7f3a";
    static final String ADMIN_TOKEN = "admin-secret-91c2";
    static final String RESOURCE = "jdbc:postgresql://db1/bank_a";

    @TempDir
    static Path dataDir;
    static TcTestServer tc;
    static TcClient client;

    @BeforeAll
    static void startTc() {
        tc = new TcTestServer(Map.of("cohort.tc.store.embedded.dir", dataDir.toString(),
                "cohort.tc.auth.token", CLIENT_TOKEN, "cohort.tc.auth.admin-token", ADMIN_TOKEN));
        client = new TcClient(clientConfig(CLIENT_TOKEN));
    }

    @AfterAll
    static void stopTc() {
        client.close();
        tc.close();
    }

    static TcClientConfig clientConfig(String token) {
        return new TcClientConfig(tc.grpcAddress(), "security-it", token, Duration.ofSeconds(10), 1, Duration.ofMillis(50));
    }

    String begin() {
        return client.begin("security", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
    }

    // ---- REST ----

    /**
     * Every handler the application maps (read from its handler mappings, so a new endpoint is
     * covered without editing this test), in every spelling that a servlet container or Spring
     * MVC may route to it, answers 401 without a token or with a wrong one. The path variables
     * name a live transaction, which must still be in BEGIN afterwards.
     */
    @Test
    void everyMappedHandlerInEveryBypassSpellingAnswers401WithoutAValidToken() {
        String xid = begin();
        List<String> failures = new ArrayList<>();
        int tried = 0;
        for (Endpoint endpoint : mappedEndpoints()) {
            if (endpoint.path().startsWith("/actuator/health")) {
                continue; // the probes are open by design, see healthIsOpenButItsDetailsNeedAToken
            }
            String path = endpoint.path().replaceAll("\\{[^}]*}", xid);
            for (String spelling : bypassSpellings(path)) {
                for (String[] headers : List.of(new String[0], new String[]{"Authorization: Bearer wrong-token"},
                        new String[]{"Authorization: Bearer " + CLIENT_TOKEN + "x"})) {
                    RawHttp.Response response = RawHttp.send(tc.httpPort(), endpoint.method(), spelling, headers);
                    tried++;
                    if (response.status() != 401) {
                        failures.add(endpoint.method() + " " + spelling + " " + List.of(headers) + " -> "
                                + response.status());
                    }
                }
            }
        }
        assertThat(tried).as("requests tried").isGreaterThan(100);
        assertThat(failures).as("requests not refused with 401").isEmpty();
        assertThat(client.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
    }

    @Test
    void healthIsOpenButItsDetailsNeedAToken() {
        for (String probe : List.of("/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness")) {
            RawHttp.Response open = RawHttp.send(tc.httpPort(), "GET", probe);
            assertThat(open.status()).as(probe).isEqualTo(200);
            assertThat(open.body()).as(probe).contains("UP").doesNotContain("store").doesNotContain("dir");
        }
        RawHttp.Response withToken = RawHttp.send(tc.httpPort(), "GET", "/actuator/health",
                "Authorization: Bearer " + CLIENT_TOKEN);
        assertThat(withToken.body()).contains("\"store\"");
    }

    @Test
    void theClientTokenReadsButOnlyTheAdminTokenChangesAndEveryChangeIsLoggedWithItsCaller(CapturedOutput output) {
        String xid = begin();
        String rollback = "/api/v1/transactions/" + xid + "/rollback";

        assertThat(RawHttp.send(tc.httpPort(), "GET", "/api/v1/transactions/" + xid,
                "Authorization: Bearer " + CLIENT_TOKEN).status()).isEqualTo(200);
        RawHttp.Response asClient = RawHttp.send(tc.httpPort(), "POST", rollback, "Authorization: Bearer " + CLIENT_TOKEN);
        assertThat(asClient.status()).isEqualTo(403);
        assertThat(asClient.body()).contains("admin token");
        assertThat(client.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);

        RawHttp.Response asAdmin = RawHttp.send(tc.httpPort(), "POST", rollback, "Authorization: Bearer " + ADMIN_TOKEN);
        assertThat(asAdmin.status()).isEqualTo(200);
        String recorded = client.status(xid).getReason();
        assertThat(recorded).contains("admin from 127.0.0.1 over REST").doesNotContain("TM");
        assertThat(output.getOut()).contains("Admin action: rollback of " + xid + " by admin from 127.0.0.1 over REST");
    }

    @Test
    void aWriteFromAPageOfAnotherOriginIsRefusedEvenWithTheAdminToken() {
        String xid = begin();
        RawHttp.Response response = RawHttp.send(tc.httpPort(), "POST", "/api/v1/transactions/" + xid + "/rollback",
                "Authorization: Bearer " + ADMIN_TOKEN, "Origin: http://evil.example");
        assertThat(response.status()).isEqualTo(403);
        assertThat(response.body()).contains("CROSS_ORIGIN_WRITE");
        assertThat(client.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
    }

    @Test
    @Order(1) // before the walk over every endpoint fills this window of the throttled refusal log
    void everyFailedAuthenticationIsLoggedWithWhatAndFromWhereButNothingForged(CapturedOutput output) {
        RawHttp.send(tc.httpPort(), "GET", "/api/v1/rms", "Authorization: Bearer nope");
        RawHttp.send(tc.httpPort(), "GET", "/api/v1/locks%0aFAKE-LINE");
        assertThat(output.getOut()).contains("Authentication failed: GET /api/v1/rms from 127.0.0.1 with a wrong");
        assertThat(output.getOut()).doesNotContain("\nFAKE-LINE");
    }

    // ---- XIDs ----

    /**
     * A client that knows two consecutive XIDs knows the next sequence number, but not the next
     * XID: every guess built from what it knows (the next sequences with either tag seen, or in
     * the untagged form of old XIDs) finds nothing over gRPC (status, rollback, register a branch,
     * mark rollback-only) nor over REST, and the real next transaction is left alone.
     */
    @Test
    void aGuessedNeighbourXidFindsNothingOverGrpcOrRest() {
        try (TestRm rm = new TestRm(clientConfig(CLIENT_TOKEN), "rm-guess", List.of(RESOURCE))) {
            guessedNeighboursFindNothing();
        }
    }

    private void guessedNeighboursFindNothing() {
        Xid first = Xid.parse(begin());
        Xid second = Xid.parse(begin());
        String next = begin();
        assertThat(Xid.parse(next).sequence()).as("the sequence alone is predictable").isGreaterThan(second.sequence());

        List<String> guesses = new ArrayList<>();
        for (long sequence = second.sequence() + 1; sequence <= second.sequence() + 20; sequence++) {
            guesses.add(new Xid(second.tcAddress(), first.tag(), sequence).toString());
            guesses.add(new Xid(second.tcAddress(), second.tag(), sequence).toString());
            guesses.add(new Xid(second.tcAddress(), "", sequence).toString());
        }
        assertThat(guesses).doesNotContain(next);
        for (String guess : guesses) {
            assertThat(grpcError(() -> client.status(guess))).as(guess).isEqualTo(ErrorCode.UNKNOWN_XID);
            assertThat(grpcError(() -> client.rollback(guess))).as(guess).isEqualTo(ErrorCode.UNKNOWN_XID);
            assertThat(grpcError(() -> client.registerBranch(guess, RESOURCE, List.of("account:77"), new byte[0], "rm")))
                    .as(guess).isEqualTo(ErrorCode.UNKNOWN_XID);
            assertThat(grpcError(() -> client.markRollbackOnly(guess, RESOURCE, "guessed"))).as(guess)
                    .isEqualTo(ErrorCode.UNKNOWN_XID);
            assertThat(RawHttp.send(tc.httpPort(), "GET", "/api/v1/transactions/" + guess,
                    "Authorization: Bearer " + CLIENT_TOKEN).status()).as(guess).isEqualTo(404);
            assertThat(RawHttp.send(tc.httpPort(), "POST", "/api/v1/transactions/" + guess + "/rollback",
                    "Authorization: Bearer " + ADMIN_TOKEN).status()).as(guess).isEqualTo(404);
        }
        assertThat(client.status(next).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
        assertThat(client.queryLocks(RESOURCE, List.of("account:77"), "").getLockable()).isTrue();
    }

    static ErrorCode grpcError(Runnable call) {
        try {
            call.run();
            return ErrorCode.UNRECOGNIZED;
        } catch (TcException e) {
            return e.errorCode();
        }
    }

    // ---- gRPC: phase-2 answers ----

    /**
     * The owning RM holds a rollback command unanswered. A second RM stream, announcing the same
     * resource, answers "rolled back" for request ids 1..5000 and for the real request id with the
     * right xid and branch. Nothing changes: the branch stays unfinished and its locks held, until
     * the owner answers.
     */
    @Test
    void forgedPhase2AnswersFromAnotherStreamChangeNothing() throws Exception {
        CountDownLatch ownerMayAnswer = new CountDownLatch(1);
        try (TestRm owner = new TestRm(clientConfig(CLIENT_TOKEN), "rm-owner", List.of(RESOURCE))) {
            owner.answer = command -> {
                awaitLatch(ownerMayAnswer);
                return TestRm.success(command);
            };
            String xid = begin();
            long branchId = client.registerBranch(xid, RESOURCE, List.of("account:1"), new byte[0], "rm-owner")
                    .getBranchId();
            client.rollback(xid);
            CoordinatorScenarios.await(() -> !owner.receivedFor(xid).isEmpty(), () -> "the rollback command to reach its RM");
            long realRequestId = owner.receivedFor(xid).get(0).getRequestId();

            try (ForgingRm forger = new ForgingRm(tc.grpcAddress(), CLIENT_TOKEN, "rm-forger", RESOURCE)) {
                List<BranchResult> forged = new ArrayList<>();
                for (long id = 1; id <= 5000; id++) {
                    forged.add(rolledBack(id, xid, branchId));
                }
                forged.add(rolledBack(realRequestId, xid, branchId));
                forger.sendResults(forged);
                forger.awaitProcessed();
            }

            assertThat(client.status(xid).getStatus()).as("after the forged answers")
                    .isIn(GlobalStatusCode.GLOBAL_ROLLBACKING, GlobalStatusCode.GLOBAL_ROLLBACK_RETRYING);
            assertThat(client.queryLocks(RESOURCE, List.of("account:1"), "").getLockable())
                    .as("the branch's lock is still held").isFalse();

            ownerMayAnswer.countDown();
            CoordinatorScenarios.await(() -> client.status(xid).getStatus() == GlobalStatusCode.GLOBAL_ROLLBACKED,
                    () -> xid + " to be rolled back by its own RM");
        } finally {
            ownerMayAnswer.countDown();
        }
    }

    static BranchResult rolledBack(long requestId, String xid, long branchId) {
        return BranchResult.newBuilder().setRequestId(requestId).setXid(xid).setBranchId(branchId)
                .setStatus(BranchStatusCode.BRANCH_PHASE2_ROLLBACKED).build();
    }

    static void awaitLatch(CountDownLatch latch) {
        try {
            if (!latch.await(2, TimeUnit.MINUTES)) {
                throw new IllegalStateException("the test never released the RM");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    // ---- gRPC: malformed input and the log ----

    @Test
    void malformedProtobufGetsInvalidArgumentWithATrailerAndAThrottledOneLineWarning(CapturedOutput output) {
        ManagedChannel channel = NettyChannelBuilder.forTarget(tc.grpcAddress()).usePlaintext().build();
        try {
            MethodDescriptor<byte[], byte[]> rawBegin = MethodDescriptor.<byte[], byte[]>newBuilder()
                    .setType(MethodDescriptor.MethodType.UNARY)
                    .setFullMethodName(TransactionCoordinatorGrpc.getBeginMethod().getFullMethodName())
                    .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
            Metadata token = new Metadata();
            token.put(Protocol.AUTHORIZATION, "Bearer " + CLIENT_TOKEN);
            Channel authenticated = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(token));
            int before = output.getOut().length();
            for (int i = 0; i < 200; i++) {
                byte[] garbage = {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) i};
                StatusRuntimeException refused = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                        () -> ClientCalls.blockingUnaryCall(authenticated, rawBegin, CallOptions.DEFAULT, garbage));
                assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(refused.getTrailers().get(Protocol.ERROR_CODE_TRAILER)).isEqualTo("INVALID_REQUEST");
            }
            String log = output.getOut().substring(before);
            assertThat(log).doesNotContain("\tat ").doesNotContain("ERROR");
            assertThat(log.lines().filter(l -> l.contains("not a valid protobuf")).count()).isBetween(1L, 40L);
        } finally {
            channel.shutdownNow();
        }
    }

    static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    };

    @Test
    void anRmHelloIsValidatedAndNothingFromItCanForgeOrFloodTheLog(CapturedOutput output) throws Exception {
        String forgedLine = "rm-1\n2026-11-29T00:00:00.000Z  INFO 1 --- [cohort-tc] FORGED: all transactions committed";
        String hugeId = "x".repeat(900_000);
        List<String> manyResources = new ArrayList<>();
        for (int i = 0; i < 50_000; i++) {
            manyResources.add("r" + i);
        }
        for (String[] hello : List.of(new String[]{forgedLine, RESOURCE}, new String[]{hugeId, RESOURCE},
                concat("rm-many", manyResources))) {
            try (ForgingRm rm = new ForgingRm(tc.grpcAddress(), CLIENT_TOKEN, hello[0],
                    java.util.Arrays.copyOfRange(hello, 1, hello.length))) {
                Status status = rm.closedByTc.get(60, TimeUnit.SECONDS);
                assertThat(status.getCode()).as("hello of %s...", hello[0].substring(0, 6)).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(status.getDescription()).hasSizeLessThan(300);
            }
        }
        assertThat(output.getOut()).doesNotContain("\n2026-11-29T00:00:00.000Z").doesNotContain("x".repeat(1000))
                .doesNotContain("r49999");
        String rms = RawHttp.send(tc.httpPort(), "GET", "/api/v1/rms", "Authorization: Bearer " + CLIENT_TOKEN).body();
        assertThat(rms).doesNotContain("FORGED").doesNotContain("rm-many");
    }

    static String[] concat(String first, List<String> rest) {
        List<String> all = new ArrayList<>(List.of(first));
        all.addAll(rest);
        return all.toArray(String[]::new);
    }

    // ---- connections ----

    /**
     * A real client holds its connection; then thousands of silent TCP connections arrive. Past
     * the cap they are closed at once, the rest when the handshake timeout ends; readiness says the
     * port is full meanwhile; the real client keeps completing transactions, and a new client can
     * connect once the silent ones are gone.
     */
    @Test
    void silentConnectionsAreCappedAndClosedWhileARealClientCompletesTransactions(@TempDir Path dir) throws Exception {
        int cap = 300;
        Duration handshakeTimeout = Duration.ofSeconds(8);
        try (TcTestServer small = new TcTestServer(Map.of("cohort.tc.store.embedded.dir", dir.toString(),
                "cohort.tc.connections.max", cap, "cohort.tc.connections.handshake-timeout", handshakeTimeout.toMillis() + "ms"));
             TcClient real = new TcClient(new TcClientConfig(small.grpcAddress(), "real", "", Duration.ofSeconds(10), 3,
                     Duration.ofMillis(100)));
             TestRm rm = new TestRm(small.grpcAddress(), "rm-real", List.of(RESOURCE))) {
            completeOneTransaction(real);
            int grpcPort = Integer.parseInt(small.grpcAddress().substring(small.grpcAddress().lastIndexOf(':') + 1));

            List<Socket> silent = new ArrayList<>();
            try {
                long openedAt = System.nanoTime();
                for (int i = 0; i < 3000; i++) {
                    Socket socket = new Socket();
                    socket.connect(new InetSocketAddress("127.0.0.1", grpcPort), 10_000);
                    socket.setSoTimeout((int) handshakeTimeout.multipliedBy(3).toMillis());
                    silent.add(socket);
                }
                if (System.nanoTime() - openedAt < handshakeTimeout.toNanos() / 2) {
                    RawHttp.Response readiness = RawHttp.send(small.httpPort(), "GET", "/actuator/health/readiness");
                    assertThat(readiness.status()).as("readiness while the gRPC port is full").isEqualTo(503);
                }
                for (int i = 0; i < 5; i++) {
                    completeOneTransaction(real);
                }
                // Every silent connection ends: refused at accept, or closed by the handshake timeout.
                for (Socket socket : silent) {
                    // The TC may have sent its HTTP/2 settings first; a timeout here means it never closed.
                    socket.getInputStream().readAllBytes();
                }
            } finally {
                for (Socket socket : silent) {
                    socket.close();
                }
            }
            CoordinatorScenarios.await(() -> RawHttp.send(small.httpPort(), "GET", "/actuator/health/readiness").status() == 200,
                    () -> "readiness to come back once the silent connections are closed");
            try (TcClient late = new TcClient(new TcClientConfig(small.grpcAddress(), "late", "", Duration.ofSeconds(10), 3,
                    Duration.ofMillis(100)))) {
                completeOneTransaction(late);
            }
        }
    }

    static void completeOneTransaction(TcClient tm) {
        String xid = tm.begin("real", Duration.ofSeconds(30), TransactionProtocol.TWO_PHASE);
        tm.registerBranch(xid, RESOURCE, List.of("account:" + System.nanoTime()), new byte[0], "rm-real");
        tm.commit(xid);
        CoordinatorScenarios.await(() -> tm.status(xid).getStatus() == GlobalStatusCode.GLOBAL_COMMITTED,
                () -> xid + " to commit");
    }

    record Endpoint(String method, String path) {
    }

    /** Every (method, path pattern) of every request-mapping handler mapping: the REST API, the actuator, /error. */
    static Set<Endpoint> mappedEndpoints() {
        Set<Endpoint> endpoints = new LinkedHashSet<>();
        for (RequestMappingInfoHandlerMapping mapping : tc.beans(RequestMappingInfoHandlerMapping.class)) {
            for (RequestMappingInfo info : mapping.getHandlerMethods().keySet()) {
                Set<String> methods = new LinkedHashSet<>();
                info.getMethodsCondition().getMethods().forEach(m -> methods.add(m.name()));
                if (methods.isEmpty()) {
                    methods.addAll(List.of("GET", "POST"));
                }
                for (String pattern : info.getPatternValues()) {
                    for (String method : methods) {
                        endpoints.add(new Endpoint(method, pattern));
                    }
                }
            }
        }
        assertThat(endpoints).as("mapped endpoints").contains(new Endpoint("POST", "/api/v1/transactions/{xid}/rollback"),
                new Endpoint("GET", "/actuator/prometheus"));
        return endpoints;
    }

    /** {@code /api/v1/x} as written, and as path parameters, percent-escapes, extra slashes, dot segments and case. */
    static List<String> bypassSpellings(String path) {
        int second = path.indexOf('/', 1);
        String first = second < 0 ? path.substring(1) : path.substring(1, second);
        String rest = second < 0 ? "" : path.substring(second);
        List<String> spellings = new ArrayList<>(List.of(
                path,
                "/" + first + ";x=1" + rest,
                "/" + escape(first.charAt(0)) + first.substring(1) + rest,
                "/" + first.substring(0, first.length() - 1) + escape(first.charAt(first.length() - 1)) + rest,
                "/" + path,
                "/" + first + "/" + rest,
                "/./" + path.substring(1),
                "/%2e/" + path.substring(1),
                "/x/..;" + path,
                "/x/../" + path.substring(1),
                "/" + first.toUpperCase(Locale.ROOT) + rest,
                "/" + Character.toUpperCase(first.charAt(0)) + first.substring(1) + rest,
                path + "/",
                path + ";jsessionid=1"));
        return spellings;
    }

    static String escape(char c) {
        return String.format("%%%02x", (int) c);
    }
}
