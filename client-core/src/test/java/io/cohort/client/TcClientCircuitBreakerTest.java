package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The TC client's circuit breaker against a real gRPC server that is stopped, made slow, or
 * replaced: it opens while no TC answers and closes the moment a connection to a TC is back. The
 * breaker's timed open state is set to an hour here, so only a reconnection can close it. Every test
 * builds its own server and client.
 */
class TcClientCircuitBreakerTest {

    private static final Duration CALL_TIMEOUT = Duration.ofMillis(500);
    private static final Duration NEVER = Duration.ofHours(1);
    /**
     * How long a test waits for a client to reach a (re)started TC: a cold JVM's first connection on a
     * loaded machine took 3.9 s, longer than many call timeouts, so not a multiple of one.
     */
    private static final Duration CONNECT_WAIT = Duration.ofSeconds(60);
    /** More calls than the breaker's window needs to decide it is open. */
    private static final int CALLS_TO_OPEN = 60;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    private <T extends AutoCloseable> T closing(T resource) {
        toClose.add(resource);
        return resource;
    }

    private TcClient client(String address) {
        return closing(new TcClient(new TcClientConfig(address, "breaker-test", "", CALL_TIMEOUT, 1,
                Duration.ofMillis(10)), NEVER));
    }

    @Test
    void aTcThatIsKilledAndRestartedIsCalledAgainAsSoonAsItListens() {
        TestTcServer tc = closing(TestTcServer.start());
        TcClient client = client(tc.address());
        // The first connection of a cold JVM on a busy machine can take longer than one call timeout.
        assertThat(untilAnswered(() -> client.begin("before", Duration.ofSeconds(10), null))).startsWith(tc.address());

        tc.stop();
        TcUnavailableException refused = openBreaker(client);
        assertThat(refused).hasMessageContaining("circuit breaker open")
                .hasMessageContaining("closes as soon as a connection to a TC is back")
                .hasMessageContaining("was not sent");

        tc.restart();
        // Begin is never retried by the client: each attempt here is one application call.
        String xid = untilAnswered(() -> client.begin("after", Duration.ofSeconds(10), null));
        assertThat(xid).startsWith(tc.address());
    }

    @Test
    void aBeginRightAfterATcRestartIsAnsweredAlthoughTheChannelWasWaitingToReconnect() {
        TestTcServer tc = closing(TestTcServer.start());
        TcClient client = client(tc.address());
        untilAnswered(() -> client.status("x:1:0"));

        tc.stop();
        // A few failed calls, too few to open the breaker: the channel is left in its reconnect backoff.
        for (int i = 0; i < 3; i++) {
            String xid = "x:1:" + i;
            assertThatThrownBy(() -> client.status(xid)).isInstanceOf(TcUnavailableException.class)
                    .hasMessageContaining("No answer from the TC");
        }
        tc.restart();
        assertThat(client.begin("right-after", Duration.ofSeconds(10), null)).startsWith(tc.address());
    }

    @Test
    void aTcThatAcceptsConnectionsButNeverAnswersInTimeOpensTheBreakerAndItStaysOpen() {
        Duration shortTimeout = Duration.ofMillis(100);
        TestTcServer tc = closing(TestTcServer.start());
        TcClient client = closing(new TcClient(new TcClientConfig(tc.address(), "breaker-test", "", shortTimeout, 1,
                Duration.ofMillis(10)), NEVER));
        untilAnswered(() -> client.status("x:1:0"));
        tc.answerAfter(shortTimeout.multipliedBy(3));

        openBreaker(client);
        long reached = tc.statusCalls();
        // The connection stayed up all along: no sign that the TC is back, so the breaker stays open and
        // the calls are refused without being sent.
        for (int i = 0; i < 20; i++) {
            String xid = "x:1:" + i;
            assertThatThrownBy(() -> client.status(xid)).isInstanceOf(TcUnavailableException.class)
                    .hasMessageContaining("circuit breaker open").hasMessageContaining("status of " + xid);
        }
        assertThat(tc.statusCalls()).as("calls that reached the TC while the breaker was open").isEqualTo(reached);
    }

    /** Calls until the breaker refuses one; that refusal. */
    private static TcUnavailableException openBreaker(TcClient client) {
        for (int i = 0; i < CALLS_TO_OPEN; i++) {
            try {
                client.status("x:1:" + i);
            } catch (TcUnavailableException e) {
                if (e.getMessage().contains("circuit breaker open")) {
                    return e;
                }
            }
        }
        throw new AssertionError("The breaker did not open after " + CALLS_TO_OPEN + " failed calls");
    }

    /**
     * Repeats {@code call} while the client says the TC is unavailable, for at most {@link #CONNECT_WAIT};
     * the breaker's own timed wait is an hour, so only a reconnection lets a call through.
     */
    private static <T> T untilAnswered(java.util.function.Supplier<T> call) {
        long deadline = System.nanoTime() + CONNECT_WAIT.toNanos();
        while (true) {
            try {
                return call.get();
            } catch (TcUnavailableException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("The TC is back but the client still refuses: " + e.getMessage(), e);
                }
            }
            try {
                Thread.sleep(10); // pacing the retries, not waiting for anything
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new UncheckedIOException(new java.io.InterruptedIOException());
            }
        }
    }
}
