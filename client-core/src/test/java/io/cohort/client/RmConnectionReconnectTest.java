package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The RM's command stream against a real gRPC server that goes away and comes back on the same port. */
class RmConnectionReconnectTest {

    private static final Duration CALL_TIMEOUT = Duration.ofMillis(500);

    @Test
    void aStreamWaitingOutItsReconnectBackoffIsReopenedAtOnceWhenTheTcIsKnownToBeBack() throws Exception {
        int port = TestTcServer.freePort();
        AtomicInteger attempts = new AtomicInteger();
        // While the TC is away its port accepts and resets every connection, so the RM's attempts can be
        // counted: each failed one doubles the stream's backoff (from 100 ms, up to 5 s).
        ServerSocket away = new ServerSocket();
        away.setReuseAddress(true);
        away.bind(new InetSocketAddress("127.0.0.1", port));
        Thread resetter = new Thread(() -> {
            try {
                while (true) {
                    Socket s = away.accept();
                    attempts.incrementAndGet();
                    s.setSoLinger(true, 0);
                    s.close();
                }
            } catch (IOException closed) {
                // the TC is back
            }
        });
        resetter.setDaemon(true);
        resetter.start();
        TcClientConfig config = new TcClientConfig("127.0.0.1:" + port, "stream-test", "", CALL_TIMEOUT, 1,
                Duration.ofMillis(10));
        try (RmConnection rm = new RmConnection(config, "rm-1", List.of("db-1"), commands -> List.of(), 1)) {
            // Six attempts: the next one is at least 1.6 s away, several call timeouts.
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (attempts.get() < 6) {
                assertThat(System.nanoTime()).as("the RM keeps trying to connect").isLessThan(deadline);
                Thread.sleep(20);
            }
            away.close();
            assertThat(rm.connectedReplicas()).isZero();

            try (TestTcServer tc = TestTcServer.onPort(port)) {
                long start = System.nanoTime();
                assertThat(rm.reconnectNow()).as("welcomed within the call timeout").isTrue();
                assertThat(rm.connectedReplicas()).isEqualTo(1);
            }
        }
    }

    @Test
    void reconnectNowSaysSoWhenNoTcWelcomesTheStreamWithinTheCallTimeout() {
        int port = TestTcServer.freePort(); // nothing listens
        TcClientConfig config = new TcClientConfig("127.0.0.1:" + port, "stream-test", "", CALL_TIMEOUT, 1,
                Duration.ofMillis(10));
        try (RmConnection rm = new RmConnection(config, "rm-1", List.of("db-1"), commands -> List.of(), 1)) {
            long start = System.nanoTime();
            assertThat(rm.reconnectNow()).isFalse();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(CALL_TIMEOUT);
        }
    }
}
