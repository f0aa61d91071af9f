package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.BeginRequest;
import io.cohort.protocol.v1.BeginResponse;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.RegisterBranchRequest;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The TC client's retry, circuit breaker and replica handling against real gRPC servers on port 0
 * whose answers are scripted per call: which calls are repeated and which are not, the breaker
 * opening on failures and closing through its half-open probe, registration while it is open, and a
 * list of replicas.
 */
class TcClientRetryTest {

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration NEVER = Duration.ofHours(1);
    /** The breaker's window: it decides after this many calls (see TcClient). */
    private static final int BREAKER_MINIMUM_CALLS = 20;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    private TcClient client(String address, int attempts, Duration openStateWait) {
        TcClient client = new TcClient(new TcClientConfig(address, "retry-test", "", CALL_TIMEOUT, attempts,
                Duration.ofMillis(5)), openStateWait);
        toClose.add(client);
        return client;
    }

    private ScriptedTc tc() {
        ScriptedTc tc = new ScriptedTc();
        toClose.add(tc);
        return tc;
    }

    @Test
    void shouldRepeatASafeCallThatNoTcAnsweredUntilItIsAnswered() {
        ScriptedTc tc = tc();
        tc.fail("status", Status.UNAVAILABLE, 2);
        TcClient client = client(tc.address(), 3, NEVER);

        assertThat(client.status("x:1:7").getXid()).isEqualTo("x:1:7");
        assertThat(tc.calls("status")).isEqualTo(3);
    }

    @Test
    void shouldGiveUpOnASafeCallAfterTheConfiguredAttemptsNamingTheCallAndTheXid() {
        ScriptedTc tc = tc();
        tc.fail("commit", Status.UNAVAILABLE, 10);
        TcClient client = client(tc.address(), 3, NEVER);

        assertThatThrownBy(() -> client.commit("x:1:8")).isInstanceOf(TcUnavailableException.class)
                .hasMessageContaining("commit of x:1:8").hasMessageContaining(tc.address())
                .hasMessageContaining("check the TC is running");
        assertThat(tc.calls("commit")).isEqualTo(3);
    }

    @Test
    void shouldNeverRepeatABeginOrARegistrationTheTcMayHaveActedOn() {
        ScriptedTc tc = tc();
        tc.fail("begin", Status.DEADLINE_EXCEEDED, 1);
        tc.fail("registerBranch", Status.UNAVAILABLE, 1);
        TcClient client = client(tc.address(), 5, NEVER);

        assertThatThrownBy(() -> client.begin("once", Duration.ofSeconds(10), null))
                .isInstanceOf(TcUnavailableException.class).hasMessageContaining("begin");
        assertThatThrownBy(() -> client.registerBranch("x:1:9", "jdbc:db", List.of("t:1"), null, "rm-1"))
                .isInstanceOf(TcUnavailableException.class).hasMessageContaining("registerBranch of x:1:9");
        assertThat(tc.calls("begin")).isEqualTo(1);
        assertThat(tc.calls("registerBranch")).isEqualTo(1);
    }

    @Test
    void shouldNotRepeatARefusalAndShouldCarryItsErrorCode() {
        ScriptedTc tc = tc();
        tc.fail("rollback", Status.FAILED_PRECONDITION, ErrorCode.GLOBAL_NOT_ACTIVE, 1);
        tc.fail("commit", Status.INVALID_ARGUMENT, ErrorCode.INVALID_REQUEST, 1);
        TcClient client = client(tc.address(), 3, NEVER);

        assertThatThrownBy(() -> client.rollback("x:1:10")).isExactlyInstanceOf(TcException.class)
                .hasMessageContaining("TC refused rollback of x:1:10").hasMessageContaining("GLOBAL_NOT_ACTIVE")
                .satisfies(e -> {
                    assertThat(((TcException) e).errorCode()).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
                    assertThat(((TcException) e).isRetriable()).isFalse();
                });
        assertThatThrownBy(() -> client.commit("x:1:11")).isExactlyInstanceOf(TcException.class)
                .satisfies(e -> assertThat(((TcException) e).errorCode()).isEqualTo(ErrorCode.INVALID_REQUEST));
        assertThat(tc.calls("rollback")).isEqualTo(1);
        assertThat(tc.calls("commit")).isEqualTo(1);
    }

    @Test
    void shouldOpenTheBreakerAfterRepeatedFailuresAndRefuseRegistrationWithoutSendingIt() {
        ScriptedTc tc = tc();
        TcClient client = client(tc.address(), 1, NEVER);
        tc.failAlways("status", Status.UNAVAILABLE);

        TcUnavailableException refused = openBreaker(client);
        long statusCalls = tc.calls("status");

        assertThat(refused).hasMessageContaining("circuit breaker open");
        // Registration is not queued or waited on while the breaker is open: it fails at once, unsent.
        assertThatThrownBy(() -> client.registerBranch("x:1:12", "jdbc:db", List.of("t:1"), null, "rm-1"))
                .isInstanceOf(TcUnavailableException.class).hasMessageContaining("circuit breaker open")
                .hasMessageContaining("registerBranch of x:1:12 was not sent");
        assertThatThrownBy(() -> client.status("x:1:13")).hasMessageContaining("status of x:1:13 was not sent");
        assertThat(tc.calls("registerBranch")).isZero();
        assertThat(tc.calls("status")).as("calls that reached the TC while the breaker was open").isEqualTo(statusCalls);
    }

    @Test
    void shouldLetProbeCallsThroughAfterTheOpenWaitAndCloseWhenTheTcAnswersAgain() {
        ScriptedTc tc = tc();
        Duration openWait = Duration.ofMillis(300);
        TcClient client = client(tc.address(), 1, openWait);
        tc.failAlways("status", Status.UNAVAILABLE);
        openBreaker(client);

        // The connection never dropped, so no reconnection closes the breaker: only its half-open probes can.
        tc.heal("status");
        long deadline = System.nanoTime() + openWait.plus(CALL_TIMEOUT.multipliedBy(4)).toNanos();
        while (true) {
            try {
                client.status("x:1:probe");
                break;
            } catch (TcUnavailableException e) {
                assertThat(System.nanoTime()).as("a probe reached the TC within the open wait plus call timeouts: "
                        + e.getMessage()).isLessThan(deadline);
                pace();
            }
        }
        long before = tc.calls("status");
        for (int i = 0; i < 3 * BREAKER_MINIMUM_CALLS; i++) {
            assertThat(client.status("x:1:" + i).getXid()).isEqualTo("x:1:" + i);
        }
        assertThat(tc.calls("status") - before).as("every call after the probes reached the TC")
                .isEqualTo(3 * BREAKER_MINIMUM_CALLS);
    }

    @Test
    void shouldSpreadCallsOverEveryListedReplicaAndSkipOneThatIsDown() throws Exception {
        ScriptedTc first = tc();
        ScriptedTc second = tc();
        TcClient client = client(first.address() + "," + second.address(), 3, NEVER);

        long deadline = System.nanoTime() + CALL_TIMEOUT.multipliedBy(4).toNanos();
        while (first.calls("status") == 0 || second.calls("status") == 0) {
            assertThat(System.nanoTime()).as("both replicas called").isLessThan(deadline);
            client.status("x:1:rr");
        }

        first.close();
        long reachedSecond = second.calls("status");
        for (int i = 0; i < 10; i++) {
            assertThat(client.status("x:1:" + i).getXid()).isEqualTo("x:1:" + i);
        }
        assertThat(second.calls("status") - reachedSecond).isEqualTo(10);
    }

    /** Calls until the breaker refuses one; that refusal. Every call before it failed at the TC. */
    private static TcUnavailableException openBreaker(TcClient client) {
        for (int i = 0; i < 3 * BREAKER_MINIMUM_CALLS; i++) {
            try {
                client.status("x:1:" + i);
                throw new AssertionError("The scripted TC answered status of x:1:" + i);
            } catch (TcUnavailableException e) {
                if (e.getMessage().contains("circuit breaker open")) {
                    return e;
                }
            }
        }
        throw new AssertionError("The breaker did not open after " + 3 * BREAKER_MINIMUM_CALLS + " failed calls");
    }

    private static void pace() {
        try {
            Thread.sleep(10); // pacing the calls, not waiting for anything
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * A real gRPC server on an ephemeral port speaking the TC's unary calls. Each call answers
     * normally unless a failure was scripted for it: the next {@code times} calls fail with it, or
     * every call until {@link #heal}.
     */
    static final class ScriptedTc implements AutoCloseable {

        /** A failure as the TC sends it: a status, and an error code in the trailers unless null. */
        record Failure(Status status, ErrorCode code) {
        }

        private final Map<String, Queue<Failure>> failures = new ConcurrentHashMap<>();
        private final Map<String, Failure> sticky = new ConcurrentHashMap<>();
        private final Map<String, AtomicLong> calls = new ConcurrentHashMap<>();
        private final Server server;

        ScriptedTc() {
            try {
                server = NettyServerBuilder.forPort(0).addService(new Service()).build().start();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        String address() {
            return "127.0.0.1:" + server.getPort();
        }

        /** The next {@code times} calls of {@code method} fail with {@code status}. */
        void fail(String method, Status status, int times) {
            fail(method, status, null, times);
        }

        /** The next {@code times} calls of {@code method} are refused with {@code status} and {@code code}. */
        void fail(String method, Status status, ErrorCode code, int times) {
            Queue<Failure> queue = failures.computeIfAbsent(method, m -> new ConcurrentLinkedQueue<>());
            for (int i = 0; i < times; i++) {
                queue.add(new Failure(status, code));
            }
        }

        /** Every call of {@code method} fails with {@code status} until {@link #heal}. */
        void failAlways(String method, Status status) {
            sticky.put(method, new Failure(status, null));
        }

        /** {@code method} answers normally from now on. */
        void heal(String method) {
            sticky.remove(method);
            failures.remove(method);
        }

        long calls(String method) {
            AtomicLong n = calls.get(method);
            return n == null ? 0 : n.get();
        }

        /** Answers {@code answer} unless a failure is scripted for {@code method}. */
        private <T> void answer(String method, StreamObserver<T> observer, Supplier<T> answer) {
            calls.computeIfAbsent(method, m -> new AtomicLong()).incrementAndGet();
            Failure failure = sticky.get(method);
            if (failure == null) {
                Queue<Failure> queue = failures.get(method);
                failure = queue == null ? null : queue.poll();
            }
            if (failure == null) {
                observer.onNext(answer.get());
                observer.onCompleted();
                return;
            }
            Metadata trailers = new Metadata();
            if (failure.code() != null) {
                trailers.put(Protocol.ERROR_CODE_TRAILER, failure.code().name());
            }
            observer.onError(failure.status().withDescription("scripted " + method + " failure")
                    .asRuntimeException(trailers));
        }

        private static GlobalStatusResponse statusOf(GlobalRequest request) {
            return GlobalStatusResponse.newBuilder().setXid(request.getXid()).setStatus(GlobalStatusCode.GLOBAL_BEGIN)
                    .build();
        }

        @Override
        public void close() throws InterruptedException {
            server.shutdownNow();
            if (!server.awaitTermination(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("scripted TC on " + address() + " did not stop within 10 s");
            }
        }

        private final class Service extends TransactionCoordinatorGrpc.TransactionCoordinatorImplBase {

            @Override
            public void begin(BeginRequest request, StreamObserver<BeginResponse> response) {
                answer("begin", response, () -> BeginResponse.newBuilder().setXid(address() + ":1")
                        .setTimeoutMs(request.getTimeoutMs()).build());
            }

            @Override
            public void getStatus(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
                answer("status", response, () -> statusOf(request));
            }

            @Override
            public void commit(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
                answer("commit", response, () -> statusOf(request));
            }

            @Override
            public void rollback(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
                answer("rollback", response, () -> statusOf(request));
            }

            @Override
            public void registerBranch(RegisterBranchRequest request, StreamObserver<RegisterBranchResponse> response) {
                answer("registerBranch", response, () -> RegisterBranchResponse.newBuilder().setBranchId(1).build());
            }
        }
    }
}
