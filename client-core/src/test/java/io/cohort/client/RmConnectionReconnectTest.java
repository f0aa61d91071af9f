package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The RM's command stream against a real gRPC server that goes away and comes back on the same port. */
class RmConnectionReconnectTest {

    private static final Duration CALL_TIMEOUT = Duration.ofMillis(500);

    /**
     * reconnectNow() reopens a stream that is waiting out its backoff: the TC's welcome comes before the
     * stream's own next attempt was due. That due time is the bound, not a call timeout, so a loaded
     * machine's slow connect does not fail the test; a reconnectNow() that leaves the stream waiting does.
     */
    @Test
    void aStreamWaitingOutItsReconnectBackoffIsReopenedAtOnceWhenTheTcIsKnownToBeBack() throws Exception {
        int port = TestTcServer.freePort();
        // While the TC is away its port accepts and resets every connection: each failed attempt of the
        // stream doubles its backoff (from 100 ms, up to 5 s).
        ServerSocket away = new ServerSocket();
        away.setReuseAddress(true);
        away.bind(new InetSocketAddress("127.0.0.1", port));
        Thread resetter = new Thread(() -> {
            try {
                while (true) {
                    Socket s = away.accept();
                    s.setSoLinger(true, 0);
                    s.close();
                }
            } catch (IOException closed) {
                // the TC is back
            }
        });
        resetter.setDaemon(true);
        resetter.start();
        // reconnectNow() waits up to the call timeout; at the longest backoff, so that only when the
        // welcome came decides.
        Duration longestBackoff = Duration.ofSeconds(5);
        TcClientConfig config = new TcClientConfig("127.0.0.1:" + port, "stream-test", "", longestBackoff, 1,
                Duration.ofMillis(10));
        try (RmConnection rm = new RmConnection(config, "rm-1", List.of("db-1"), commands -> List.of(), 1)) {
            // Until the stream waits a backoff of a second or more (1.6 s, after 1.5 s of attempts);
            // 60 s is far beyond.
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            Duration dueIn;
            while ((dueIn = rm.reconnectDueIn()) == null || dueIn.compareTo(Duration.ofSeconds(1)) < 0) {
                assertThat(System.nanoTime()).as("the RM keeps trying to connect").isLessThan(deadline);
                Thread.sleep(20);
            }
            long due = System.nanoTime() + dueIn.toNanos();
            away.close();
            // The port is free for the TC only once the blocked accept() has returned (else "Address already in use").
            resetter.join(Duration.ofSeconds(60).toMillis());
            assertThat(resetter.isAlive()).as("the port's accept loop ended").isFalse();
            assertThat(rm.connectedReplicas()).isZero();

            try (TestTcServer tc = TestTcServer.onPort(port)) {
                assertThat(rm.reconnectNow()).as("welcomed").isTrue();
                assertThat(System.nanoTime() - due).as("welcomed before the stream's own attempt was due").isNegative();
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
