package io.cohort.client;

import java.util.function.Supplier;

/**
 * The XID of the global transaction the current thread works in. Bound by the TM at
 * {@code @GlobalTransactional}, by the servlet filter / gRPC interceptor for an incoming call, and
 * read by the RM's JDBC proxy. Always unbind in a {@code finally}; {@link #runWith} does it for you.
 */
public final class XidContext {

    private static final ThreadLocal<String> CURRENT = new ThreadLocal<>();

    private XidContext() {
    }

    /** The bound XID, or null outside a global transaction. */
    public static String current() {
        return CURRENT.get();
    }

    /** Binds {@code xid} and returns what was bound before (to restore it with {@link #restore}). */
    public static String bind(String xid) {
        String previous = CURRENT.get();
        CURRENT.set(xid);
        return previous;
    }

    /** Unbinds and returns what was bound. */
    public static String unbind() {
        String previous = CURRENT.get();
        CURRENT.remove();
        return previous;
    }

    /** Restores a value returned by {@link #bind} or {@link #unbind} (null unbinds). */
    public static void restore(String previous) {
        if (previous == null) {
            CURRENT.remove();
        } else {
            CURRENT.set(previous);
        }
    }

    /** Runs {@code body} with {@code xid} bound (null: unbound), then restores what was there. */
    public static <T> T runWith(String xid, Supplier<T> body) {
        String previous = bind(xid);
        try {
            return body.get();
        } finally {
            restore(previous);
        }
    }
}
