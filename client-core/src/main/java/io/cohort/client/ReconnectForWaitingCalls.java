package io.cohort.client;

import io.grpc.Attributes;
import io.grpc.ClientTransportFilter;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Lets the calls that wait for a connection to the TC (gRPC's wait-for-ready: Begin, branch
 * registration, the status asked of any replica) reach a TC that is back instead of waiting out
 * gRPC's reconnect backoff. A call that starts while the channel is not connected makes it connect at
 * once. That is not enough on its own: a connection attempt already in flight may have started
 * before the TC came back (its port still closed); when it fails, gRPC waits its backoff (a second
 * or more, past the call's deadline) before the next attempt although the TC is up. The channel's
 * state may not even change to say so (pick-first stays in TRANSIENT_FAILURE while it retries). So a
 * call that waits is also owed the end of the attempt in flight: the channel then tries again at
 * once, with an attempt that started after the call did.
 *
 * <p>Bounded so that calls to a TC that is down do not make the channel loop on refused connections:
 * each call buys at most the immediate attempt at its start and one more when an attempt ends; calls
 * that start together share them.
 *
 * <p>Only the end of an attempt pays what is owed, not the end of a connection that was up: a TC
 * shut down gracefully (or a connection lost with streams still draining) may end its connection
 * after the next attempt has started and after a call began to wait; resetting the backoff then is
 * a no-op (the channel is connecting), and the attempt in flight, when it fails, would find nothing
 * owed and leave the call to gRPC's backoff.
 *
 * <p>A filter on the channel's transports (gRPC's experimental {@link ClientTransportFilter}): its
 * {@link #transportTerminated} is the one signal that a connection attempt ended, refused or lost;
 * {@link #transportReady} marks the transports that connected.
 */
final class ReconnectForWaitingCalls extends ClientTransportFilter {

    /** Set on the attributes of a transport that connected: its end is not the end of an attempt. */
    private static final Attributes.Key<Boolean> WAS_READY = Attributes.Key.create("cohort.transport-was-ready");

    private volatile ManagedChannel channel;
    /** Calls waiting for a connection now. */
    private final AtomicInteger waiting = new AtomicInteger();
    /** A call started waiting since the last attempt made at once for the calls waiting. */
    private final AtomicBoolean attemptOwed = new AtomicBoolean();

    /** The channel this filter was added to, once built. */
    void attach(ManagedChannel channel) {
        this.channel = channel;
    }

    /** Runs {@code call}, a call that waits for a connection (wait-for-ready), owed the attempts above. */
    <R> R waiting(Supplier<R> call) {
        started();
        try {
            return call.get();
        } finally {
            ended();
        }
    }

    /** A call starts waiting for a connection; {@link #ended} once it is answered or failed. */
    void started() {
        waiting.incrementAndGet();
        // Owed before the look at the state: an attempt that ends from here on is seen by transportTerminated,
        // one that ended before is followed, in gRPC's own order, by the reset below.
        attemptOwed.set(true);
        if (channel.getState(false) != ConnectivityState.READY) {
            channel.resetConnectBackoff(); // connects now if the channel waits out a backoff, else nothing
        }
    }

    void ended() {
        waiting.decrementAndGet();
    }

    @Override
    public Attributes transportReady(Attributes transportAttrs) {
        return transportAttrs.toBuilder().set(WAS_READY, true).build();
    }

    @Override
    public void transportTerminated(Attributes transportAttrs) {
        boolean attemptEnded = transportAttrs.get(WAS_READY) == null;
        if (attemptEnded && waiting.get() > 0 && attemptOwed.compareAndSet(true, false)) {
            channel.resetConnectBackoff();
        }
    }
}
