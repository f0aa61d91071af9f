package io.cohort.tm.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.cohort.client.RmConnection;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.client.TmMadeXids;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.Xid;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TcpProxy;
import io.cohort.tm.propagation.XidExchangeFilterFunction;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.http.client.reactive.JdkClientHttpConnector;
import org.springframework.web.reactive.function.client.WebClient;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;

/**
 * The WebClient filter announces a TM-made XID to the TC before the XID leaves the process, without
 * blocking the thread the exchange is subscribed on (in a reactive service a Netty event loop; here a
 * one-thread Reactor scheduler whose thread is marked non-blocking). Real pieces throughout: a TC
 * process, a {@link TcpProxy} that holds the announce's bytes so it is in flight long enough to see
 * who waits for it, a JDK HTTP server as the callee, whose RM registers a branch with the XID it got.
 */
class WebClientAnnounceIT {

    /** Every call here has this deadline: far above how long the proxy holds the announce. */
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);
    /** How long the proxy holds the TM's bytes: the event loop must run other work meanwhile. */
    private static final Duration HOLD = Duration.ofSeconds(15);
    private static final String RESOURCE = "bench://webclient-callee";

    private static TcProcess tc;
    private static TcClient callee;
    private static RmConnection calleeRm;
    private static HttpServer server;
    private static final AtomicInteger requests = new AtomicInteger();
    /** What the callee saw: the XID's status at the TC when the request arrived, and its branch id. */
    private static final AtomicReference<String> calleeSaw = new AtomicReference<>();

    @BeforeAll
    static void start() throws Exception {
        // One place per application: the refusal test fills its application's.
        tc = TcProcess.embedded(Files.createTempDirectory("cohort-webclient-announce").resolve("data"),
                "--cohort.tc.store.embedded.fsync=false", "--cohort.tc.limits.max-active-per-application=1").start();
        callee = new TcClient(config(tc.grpcAddress(), "webclient-callee"));
        calleeRm = new RmConnection(config(tc.grpcAddress(), "webclient-callee"), "callee-rm", List.of(RESOURCE),
                commands -> List.of(), 1);
        long deadline = System.nanoTime() + CALL_TIMEOUT.toNanos();
        while (calleeRm.connectedReplicas() == 0) {
            assertThat(System.nanoTime()).as("the callee's RM welcomed within the call timeout").isLessThan(deadline);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/credit", WebClientAnnounceIT::credit);
        server.start();
    }

    /** The callee: its RM registers a branch in the transaction the header names, as at its first local commit. */
    private static void credit(HttpExchange exchange) throws IOException {
        requests.incrementAndGet();
        String xid = exchange.getRequestHeaders().getFirst(Protocol.XID_HEADER);
        String answer;
        try {
            GlobalStatusCode status = callee.status(xid).getStatus();
            long branchId = callee.registerBranch(xid, RESOURCE, List.of("account:1"), null, "callee-rm").getBranchId();
            answer = status + " " + branchId;
        } catch (RuntimeException e) {
            answer = "failed: " + e.getMessage();
        }
        calleeSaw.set(answer);
        byte[] body = answer.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(200, body.length);
        exchange.getResponseBody().write(body);
        exchange.close();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.stop(0);
        }
        if (calleeRm != null) {
            calleeRm.close();
        }
        if (callee != null) {
            callee.close();
        }
        if (tc != null) {
            tc.close();
        }
    }

    private static TcClientConfig config(String address, String applicationId) {
        return new TcClientConfig(address, applicationId, "", CALL_TIMEOUT, 1, Duration.ofMillis(10));
    }

    private static WebClient webClient(AtomicReference<String> subscribedOn) {
        return WebClient.builder()
                .clientConnector(new JdkClientHttpConnector())
                .filter((request, next) -> {
                    subscribedOn.set(Thread.currentThread().getName() + (Schedulers.isInNonBlockingThread()
                            ? " (non-blocking)" : " (blocking allowed)"));
                    return next.exchange(request);
                })
                .filter(new XidExchangeFilterFunction())
                .baseUrl("http://127.0.0.1:" + server.getAddress().getPort())
                .build();
    }

    /**
     * A client that has learnt from one Begin that the TC takes TM-made XIDs. That transaction is rolled
     * back and has ended on return, so it holds none of the application's places.
     */
    private static TcClient tmThatMakesXids(String address, String applicationId) throws InterruptedException {
        TcClient tm = new TcClient(config(address, applicationId));
        TcAnswering.await(tm);
        String learning = tm.begin("learns that the TC takes TM-made XIDs", Duration.ofMinutes(5),
                TransactionProtocol.TWO_PHASE);
        tm.rollback(learning);
        assertThat(TcAnswering.awaitEnded(tm, learning, CALL_TIMEOUT)).as("the learning transaction " + learning)
                .isEqualTo(GlobalStatus.ROLLBACKED);
        return tm;
    }

    @Test
    void theAnnounceDoesNotBlockTheEventLoopAndTheCalleeFindsTheTransaction() throws Exception {
        Scheduler loop = Schedulers.newParallel("event-loop", 1);
        try (TcpProxy proxy = new TcpProxy("127.0.0.1", tc.grpcPort());
             TcClient tm = tmThatMakesXids(proxy.address(), "webclient-tm")) {
            String xid = tm.beginLocally("webclient", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
            assertThat(xid).isNotNull();
            assertThat(Xid.parse(xid).tmMade()).isTrue();
            assertThat(TmMadeXids.needsAnnouncing(xid)).isTrue();
            AtomicReference<String> subscribedOn = new AtomicReference<>();
            int before = requests.get();

            proxy.pauseFor(HOLD);
            CompletableFuture<String> response = webClient(subscribedOn).post().uri("/credit")
                    .attribute(XidExchangeFilterFunction.XID_ATTRIBUTE, xid)
                    .retrieve().bodyToMono(String.class)
                    .subscribeOn(loop).toFuture();
            // Work queued behind the exchange on the loop's only thread: it runs while the announce is in
            // flight (held by the proxy), unless the filter blocks the thread until the TC has answered.
            CompletableFuture<Boolean> stillInFlight = new CompletableFuture<>();
            loop.schedule(() -> stillInFlight.complete(TmMadeXids.needsAnnouncing(xid)));

            assertThat(stillInFlight.get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
                    .as("the loop ran other work while the announce was in flight").isTrue();
            assertThat(requests.get()).as("nothing sent before the TC answered the announce").isEqualTo(before);
            String answer = response.get(2 * CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);

            assertThat(subscribedOn.get()).startsWith("event-loop").endsWith("(non-blocking)");
            assertThat(answer).as("the callee found the transaction at the TC and registered a branch")
                    .matches("GLOBAL_BEGIN [1-9][0-9]*");
            assertThat(requests.get()).isEqualTo(before + 1);
            // The callee's branch is rolled back from here on (its RM here answers no command).
            assertThat(tm.rollback(xid).getStatus()).isIn(GlobalStatusCode.GLOBAL_ROLLBACKING,
                    GlobalStatusCode.GLOBAL_ROLLBACKED);
            TmMadeXids.forget(xid);
        } finally {
            loop.dispose();
        }
    }

    @Test
    void aRefusedAnnounceFailsTheExchangeWithTheTcsErrorAndSendsNothing() throws Exception {
        Scheduler loop = Schedulers.newParallel("event-loop", 1);
        try (TcClient tm = tmThatMakesXids(tc.grpcAddress(), "webclient-capped")) {
            String holder = tm.begin("holds the application's only place", Duration.ofMinutes(5),
                    TransactionProtocol.TWO_PHASE);
            String xid = tm.beginLocally("refused", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
            assertThat(xid).isNotNull();
            int before = requests.get();

            Throwable thrown = catchThrowable(() -> webClient(new AtomicReference<>()).post().uri("/credit")
                    .attribute(XidExchangeFilterFunction.XID_ATTRIBUTE, xid)
                    .retrieve().bodyToMono(String.class)
                    .subscribeOn(loop).toFuture().get(2 * CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS));

            assertThat(thrown).isInstanceOf(ExecutionException.class);
            assertThat(thrown.getCause()).isInstanceOf(TcException.class)
                    .hasMessageContaining(xid)
                    .hasMessageContaining("webclient-capped")
                    .hasMessageContaining("cohort.tc.limits.max-active-per-application");
            assertThat(((TcException) thrown.getCause()).errorCode()).isEqualTo(ErrorCode.TOO_MANY_TRANSACTIONS);
            assertThat(requests.get()).as("the request was not sent").isEqualTo(before);
            assertThat(TmMadeXids.needsAnnouncing(xid)).isTrue();
            TmMadeXids.forget(xid);
            tm.rollback(holder);
        } finally {
            loop.dispose();
        }
    }
}
