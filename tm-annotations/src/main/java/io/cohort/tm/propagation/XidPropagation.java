package io.cohort.tm.propagation;

import io.cohort.client.TmMadeXids;
import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.Xid;
import java.util.concurrent.Callable;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

/**
 * Carries the XID by hand where no interceptor does it: message headers, another thread, a custom
 * transport.
 * <pre>{@code
 * XidPropagation.inject(record.headers()::add);              // producer: adds Cohort-Xid if bound
 * XidPropagation.runWith(header("Cohort-Xid"), () -> ...);   // consumer: bound for the body only
 * executor.submit(XidPropagation.wrap(task));                 // another thread joins this one's XID
 * }</pre>
 * The consumer side binds only for the body and restores what was bound before, so a pooled thread
 * never keeps the XID.
 */
public final class XidPropagation {

    /** The HTTP header / message header name: {@code Cohort-Xid}. */
    public static final String HEADER = Protocol.XID_HEADER;

    private XidPropagation() {
    }

    /** Calls {@code setter.accept(HEADER, xid)} when a global transaction is bound; returns whether it did. */
    public static boolean inject(BiConsumer<String, String> setter) {
        String xid = XidContext.current();
        if (xid == null) {
            return false;
        }
        TmMadeXids.announce(xid); // the receiver's RM must find the transaction at the TC
        setter.accept(HEADER, xid);
        return true;
    }

    /**
     * Checks an incoming XID; returns it trimmed, or null when absent or blank.
     *
     * @throws IllegalArgumentException when it is not an XID, saying why
     */
    public static String parse(String headerValue) {
        if (headerValue == null || headerValue.isBlank()) {
            return null;
        }
        String xid = headerValue.trim();
        Xid.parse(xid);
        return xid;
    }

    /** Runs {@code body} with the received XID bound (none if null/blank), then restores the previous binding. */
    public static void runWith(String headerValue, Runnable body) {
        callWith(headerValue, () -> {
            body.run();
            return null;
        });
    }

    public static <T> T callWith(String headerValue, Supplier<T> body) {
        return XidContext.runWith(parse(headerValue), body);
    }

    /** A task that runs with the XID bound now (on the calling thread) bound on whichever thread runs it. */
    public static Runnable wrap(Runnable task) {
        String xid = XidContext.current();
        return () -> XidContext.runWith(xid, () -> {
            task.run();
            return null;
        });
    }

    public static <T> Callable<T> wrap(Callable<T> task) {
        String xid = XidContext.current();
        return () -> {
            String previous = XidContext.bind(xid);
            try {
                return task.call();
            } finally {
                XidContext.restore(previous);
            }
        };
    }
}
