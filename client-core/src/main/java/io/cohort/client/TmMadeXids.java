package io.cohort.client;

import io.cohort.protocol.v1.TransactionCreation;
import io.cohort.protocol.v1.TransactionProtocol;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The global transactions this process's TM began with an XID it made (protocol minor 8) that the TC
 * has not heard of yet. Every call to the TC for such an XID, from the TM or from an RM of this process
 * on any thread, carries its {@link TransactionCreation}, so whichever reaches the TC first creates
 * the transaction; before the XID leaves the process (an outgoing call's header), {@link #announce}
 * creates it at the TC, since the callee's RM cannot say how to create it.
 *
 * <p>Process-wide like {@link XidContext}: the TM and the RMs of one process share it. An entry lives
 * from the TM's begin to its commit or rollback ({@link #forget}); once the TC answered a call for the
 * XID it is only a marker ({@code announced}).
 */
public final class TmMadeXids {

    private static final ConcurrentHashMap<String, Pending> PENDING = new ConcurrentHashMap<>();

    private TmMadeXids() {
    }

    /** What Begin would have carried, and the TC client that announces it. */
    static final class Pending {
        final String name;
        final String applicationId;
        final long timeoutMs;
        final TransactionProtocol protocol;
        final long begunNanos;
        final TcClient client;
        volatile boolean announced;

        Pending(String name, String applicationId, long timeoutMs, TransactionProtocol protocol, long begunNanos,
                TcClient client) {
            this.name = name;
            this.applicationId = applicationId;
            this.timeoutMs = timeoutMs;
            this.protocol = protocol;
            this.begunNanos = begunNanos;
            this.client = client;
        }

        TransactionCreation creation() {
            return TransactionCreation.newBuilder().setName(name).setApplicationId(applicationId)
                    .setTimeoutMs(timeoutMs).setProtocol(protocol)
                    .setElapsedMs((System.nanoTime() - begunNanos) / 1_000_000).build();
        }
    }

    static void add(String xid, Pending pending) {
        PENDING.put(xid, pending);
    }

    /** The creation to send with a call for {@code xid}, or null when the TC knows it (or it is not ours). */
    static TransactionCreation creationFor(String xid) {
        Pending p = xid == null ? null : PENDING.get(xid);
        return p == null || p.announced ? null : p.creation();
    }

    /** The TC answered a call that carried the creation: it knows the transaction now. */
    static void announced(String xid) {
        Pending p = PENDING.get(xid);
        if (p != null) {
            p.announced = true;
        }
    }

    static Pending pending(String xid) {
        return PENDING.get(xid);
    }

    /**
     * Makes sure the TC knows {@code xid} before it is sent to another process: a TM-made XID no call
     * has announced yet is created at the TC now (one Begin call naming it). Nothing to do otherwise.
     * Called by the outgoing XID interceptors; blocks for that one call.
     */
    public static void announce(String xid) {
        Pending p = xid == null ? null : PENDING.get(xid);
        if (p != null && !p.announced) {
            p.client.announce(xid, p);
        }
    }

    /**
     * As {@link #announce}, without blocking the calling thread: for a reactive caller, whose thread may
     * be an event loop (the WebClient filter composes the exchange after it). Completed at once when
     * there is nothing to announce; else it completes, on a gRPC thread, once the TC knows the
     * transaction, or with the {@link TcException} {@link #announce} would throw (then the XID must not
     * be sent).
     */
    public static CompletableFuture<Void> announceAsync(String xid) {
        Pending p = xid == null ? null : PENDING.get(xid);
        if (p == null || p.announced) {
            return CompletableFuture.completedFuture(null);
        }
        return p.client.announceAsync(xid, p);
    }

    /** Whether {@code xid} is a TM-made XID of this process that the TC has not heard of yet. */
    public static boolean needsAnnouncing(String xid) {
        Pending p = xid == null ? null : PENDING.get(xid);
        return p != null && !p.announced;
    }

    /** The TM ended the transaction (commit or rollback answered, or given up): nothing more to send for it. */
    public static void forget(String xid) {
        if (xid != null) {
            PENDING.remove(xid);
        }
    }
}
