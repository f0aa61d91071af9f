package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
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

    /**
     * Failed once in CI (2 December: the begin waited out its call timeout, gRPC "was_still_waiting"
     * after a refused connection); the order of events behind it is made certain, and fixed, in
     * {@link #aBeginIsOwedTheEndOfTheAttemptInFlightNotTheEndOfTheConnectionTheTcDropped}. A failure
     * reports what the channel did, from gRPC's own channel log.
     */
    @Test
    void aBeginRightAfterATcRestartIsAnsweredAlthoughTheChannelWasWaitingToReconnect() {
        GrpcChannelLog channelLog = closing(GrpcChannelLog.capture());
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
        String xid;
        try {
            xid = client.begin("right-after", Duration.ofSeconds(10), null);
        } catch (TcUnavailableException e) {
            throw new AssertionError("A begin right after the restart was not answered; the channel's log:\n"
                    + channelLog, e);
        }
        assertThat(xid).startsWith(tc.address());
    }

    /**
     * The race behind {@link #aBeginRightAfterATcRestartIsAnsweredAlthoughTheChannelWasWaitingToReconnect},
     * made certain: the channel's connection attempt in flight when the TC comes back started before it
     * did, and fails after a Begin was made to the TC that is back. gRPC would wait out its reconnect
     * backoff (a second or more) before the next attempt, past the Begin's deadline. Here the Begin
     * that announces a TM-made XID without blocking, so the test knows the call waits before the
     * attempt fails.
     */
    @Test
    void aBeginMadeOnceTheTcIsBackIsAnsweredAlthoughTheConnectionAttemptInFlightStartedBefore() {
        TestTcServer tc = closing(TestTcServer.start());
        tc.speakMinor(Protocol.MINOR_BEGINLESS);
        TcClient client = unaryClient(tc);
        // A first Begin answered by a TC of minor 8 lets the client make XIDs and announce them without blocking.
        untilAnswered(() -> client.begin("before", Duration.ofSeconds(10), null));
        PortWithoutTc attempts = restartWhileAnAttemptIsInFlight(tc, client);

        String xid = client.beginLocally("right-after", Duration.ofSeconds(10), null);
        try {
            CompletableFuture<Void> announced = TmMadeXids.announceAsync(xid);
            attempts.failHeldAttempts();
            // The call's own deadline (the call timeout) ends the wait if the client does not reconnect in time.
            assertThat(announced).succeedsWithin(CONNECT_WAIT);
        } finally {
            TmMadeXids.forget(xid);
        }
    }

    /** As the one before, with the blocking Begin: it waits for a connection once its thread parks in the call. */
    @Test
    void aBlockingBeginMadeOnceTheTcIsBackIsAnsweredAlthoughTheConnectionAttemptInFlightStartedBefore() {
        TestTcServer tc = closing(TestTcServer.start());
        TcClient client = unaryClient(tc);
        untilAnswered(() -> client.status("x:1:0"));
        PortWithoutTc attempts = restartWhileAnAttemptIsInFlight(tc, client);

        CompletableFuture<String> begun = beginWaiting(client);
        attempts.failHeldAttempts();
        // The call's own deadline (the call timeout) ends the wait if the client does not reconnect in time.
        assertThat(begun).succeedsWithin(CONNECT_WAIT).asString().startsWith(tc.address());
    }

    /**
     * What made {@link #aBeginRightAfterATcRestartIsAnsweredAlthoughTheChannelWasWaitingToReconnect}
     * fail once, made certain (the CI run's channel log showed it): the connection to the TC that went
     * away ended only after the channel's next attempt had started and after a Begin began to wait.
     * That end is not the end of an attempt: the Begin is still owed the end of the attempt in flight,
     * which started before the TC was back, so that the channel tries again at once rather than after
     * gRPC's backoff (a second or more, past the Begin's deadline). Here the TC is shut down gracefully
     * with a stream open on the connection, which keeps the connection up until the test ends the stream.
     */
    @Test
    void aBeginIsOwedTheEndOfTheAttemptInFlightNotTheEndOfTheConnectionTheTcDropped() {
        GrpcChannelLog channelLog = closing(GrpcChannelLog.capture());
        TestTcServer tc = closing(TestTcServer.start());
        TcClient client = unaryClient(tc);
        untilAnswered(() -> client.status("x:1:0"));
        ClientCall<RmMessage, TcMessage> openStream = client.channel()
                .newCall(TransactionCoordinatorGrpc.getConnectMethod(), CallOptions.DEFAULT);
        openStream.start(new ClientCall.Listener<>() { }, new Metadata());
        untilTrue(() -> tc.commandStreamsOpened() > 0);

        tc.drain();
        untilTrue(() -> channelLog.contains("SHUTDOWN with"));
        String goneAway = channelLog.firstLineWith("SHUTDOWN with");
        int shutdownAt = goneAway.indexOf(" SHUTDOWN with");
        String droppedConnection = goneAway.substring(goneAway.lastIndexOf("] ", shutdownAt) + 2, shutdownAt);
        PortWithoutTc attempts = restartOnceAnAttemptIsHeld(tc, client);

        CompletableFuture<String> begun = beginWaiting(client);
        openStream.cancel("the test ends the stream that kept the dropped connection up", null);
        untilTrue(() -> channelLog.contains(droppedConnection + " Terminated"));
        attempts.failHeldAttempts();
        try {
            // The call's own deadline (the call timeout) ends the wait if the client does not reconnect in time.
            assertThat(begun).succeedsWithin(CONNECT_WAIT).asString().startsWith(tc.address());
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\nThe channel's log:\n" + channelLog, e);
        }
    }

    /**
     * The other side of the reconnections above: a Begin waiting for a TC that is down makes the channel
     * try to connect at once, and once more if that attempt fails, not again and again until its deadline.
     */
    @Test
    void aBeginWaitingForATcThatIsDownMakesAFewConnectionAttemptsNotALoop() {
        PortWithoutTc down = closing(PortWithoutTc.closingEach(TestTcServer.freePort()));
        TcClient client = closing(new TcClient(new TcClientConfig("127.0.0.1:" + down.port(), "breaker-test", "",
                CALL_TIMEOUT, 1, Duration.ofMillis(10)).withCallsStream(false), NEVER));

        assertThatThrownBy(() -> client.begin("to-nobody", Duration.ofSeconds(10), null))
                .isInstanceOf(TcUnavailableException.class).hasMessageContaining("DEADLINE_EXCEEDED");
        // The Begin's first attempt and the one more it is owed; gRPC's backoff (1 s at first) allows no other
        // within the call timeout. Resetting the backoff at every failed attempt would make about a hundred.
        assertThat(down.accepted()).as("connection attempts during the Begin").isBetween(1, 3);
    }

    /** A blocking Begin on its own thread, returned once that thread waits in the call (or it ended). */
    private static CompletableFuture<String> beginWaiting(TcClient client) {
        CompletableFuture<String> begun = new CompletableFuture<>();
        Thread caller = new Thread(() -> {
            try {
                begun.complete(client.begin("right-after", Duration.ofSeconds(10), null));
            } catch (RuntimeException e) {
                begun.completeExceptionally(e);
            }
        }, "begin-right-after");
        caller.start();
        untilTrue(() -> caller.getState() == Thread.State.WAITING || begun.isDone());
        return begun;
    }

    /** Holds the connection attempts on {@code port} once the TC that listened there has let it go. */
    private static PortWithoutTc holdingOnceFree(int port) {
        PortWithoutTc[] holding = new PortWithoutTc[1];
        untilTrue(() -> {
            try {
                holding[0] = PortWithoutTc.holding(port);
                return true;
            } catch (UncheckedIOException stillListening) {
                return false;
            }
        });
        return holding[0];
    }

    /** A client of unary calls only (the test server has no Calls stream). */
    private TcClient unaryClient(TestTcServer tc) {
        return closing(new TcClient(new TcClientConfig(tc.address(), "breaker-test", "", CALL_TIMEOUT, 1,
                Duration.ofMillis(10)).withCallsStream(false), NEVER));
    }

    /**
     * Stops {@code tc}, lets one of the client's connection attempts reach its port and hold there
     * (accepted, never answered), then restarts the TC on the port: the attempt still in flight
     * started while the TC was down. Fail it with {@link PortWithoutTc#failHeldAttempts}.
     */
    private PortWithoutTc restartWhileAnAttemptIsInFlight(TestTcServer tc, TcClient client) {
        tc.stop();
        assertThatThrownBy(() -> client.status("x:1:1")).isInstanceOf(TcUnavailableException.class)
                .hasMessageContaining("UNAVAILABLE");
        return restartOnceAnAttemptIsHeld(tc, client);
    }

    /**
     * Once {@code tc}'s port is free, lets one of the client's connection attempts reach it and hold
     * there (accepted, never answered), then restarts the TC on the port; returns the held attempts.
     */
    private PortWithoutTc restartOnceAnAttemptIsHeld(TestTcServer tc, TcClient client) {
        PortWithoutTc attempts = closing(holdingOnceFree(tc.port()));
        // Each failed call makes the channel try to connect at once: one such attempt reaches the port and is held.
        untilTrue(() -> {
            assertThatThrownBy(() -> client.status("x:1:2")).isInstanceOf(TcUnavailableException.class);
            return attempts.accepted() > 0;
        });
        attempts.stopListening();
        tc.restart();
        return attempts;
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

    /** Repeats {@code step} until it returns true, for at most {@link #CONNECT_WAIT}. */
    private static void untilTrue(java.util.function.BooleanSupplier step) {
        long deadline = System.nanoTime() + CONNECT_WAIT.toNanos();
        while (!step.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Not reached within " + CONNECT_WAIT);
            }
            pace();
        }
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
            pace();
        }
    }

    private static void pace() {
        try {
            Thread.sleep(10); // pacing the retries, not waiting for anything
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UncheckedIOException(new java.io.InterruptedIOException());
        }
    }
}
