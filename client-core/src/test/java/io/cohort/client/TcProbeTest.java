package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The probe over real sockets: a port nobody listens on, a name that does not resolve, and a port
 * that takes connections into its backlog and never answers — each is "no TC answers" within the
 * deadline; a replica that answers is heard without waiting for the silent ones.
 */
class TcProbeTest {

    private static final Duration DEADLINE = Duration.ofMillis(800);
    /** Scheduling slack on a loaded machine over the deadline (the probe itself allows 50 ms). */
    private static final long SLACK_MS = 700;

    private ServerSocket blackHole;
    private int closedPort;
    private Server tc;

    @BeforeEach
    void listen() throws Exception {
        blackHole = new ServerSocket(0, 50, InetAddress.getLoopbackAddress()); // never accepts
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
    }

    @AfterEach
    void close() throws Exception {
        blackHole.close();
        if (tc != null) {
            tc.shutdownNow();
        }
    }

    @Test
    void shouldSayNoTcAnswersWithinTheDeadlineWhenEveryReplicaIsRefusedUnresolvableOrSilent() {
        String refused = "127.0.0.1:" + closedPort;
        String unresolvable = "cohort-tc.invalid:8091";
        String silent = "127.0.0.1:" + blackHole.getLocalPort();
        TcClientConfig replicas = TcClientConfig.of(refused + "," + unresolvable + "," + silent, "probe-test");
        try (TcProbe first = new TcProbe(replicas, DEADLINE)) {
            // Loads what a first gRPC call loads, on the calling thread: on a loaded machine that alone took
            // longer than the slack, and it is not waiting on the network.
            assertThatThrownBy(() -> first.status("127.0.0.1:1:0")).isInstanceOf(TcUnavailableException.class);
        }
        try (TcProbe probe = new TcProbe(replicas, DEADLINE)) {
            long start = System.nanoTime();
            Throwable noAnswer = catchThrowable(() -> probe.status("127.0.0.1:1:1"));
            long tookMs = elapsedMs(start);
            assertThat(noAnswer).isInstanceOf(TcUnavailableException.class)
                    .hasMessageStartingWith("no TC replica answered within 800 ms (")
                    .hasMessageContaining(refused + ": ").hasMessageContaining(unresolvable + ": ")
                    .hasMessageContaining(silent + ": ");
            assertThat(tookMs).isLessThan(DEADLINE.toMillis() + SLACK_MS);
        }
    }

    @Test
    void shouldHearTheReplicaThatAnswersWithoutWaitingForASilentOne() throws Exception {
        tc = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(new TransactionCoordinatorGrpc.TransactionCoordinatorImplBase() {
                    @Override
                    public void getStatus(GlobalRequest request, StreamObserver<GlobalStatusResponse> answer) {
                        answer.onNext(GlobalStatusResponse.newBuilder().setXid(request.getXid())
                                .setStatus(GlobalStatus.PRE_COMMITTED.toWire()).build());
                        answer.onCompleted();
                    }
                }).build().start();
        String silent = "127.0.0.1:" + blackHole.getLocalPort();
        String up = "127.0.0.1:" + tc.getPort();
        try (TcProbe probe = new TcProbe(TcClientConfig.of(silent + "," + up, "probe-test"), Duration.ofSeconds(10))) {
            long start = System.nanoTime();
            GlobalStatusResponse status = probe.status("10.0.0.5:8091:7");
            assertThat(GlobalStatus.fromWire(status.getStatus())).isEqualTo(GlobalStatus.PRE_COMMITTED);
            assertThat(elapsedMs(start)).as("not the 10 s deadline of the silent replica").isLessThan(5_000);
        }
    }

    @Test
    void shouldRefuseADeadlineTooShortToMeanAnything() {
        assertThatThrownBy(() -> new TcProbe(TcClientConfig.of("127.0.0.1:1", "probe-test"), Duration.ofMillis(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 10ms");
    }

    private static long elapsedMs(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }
}
