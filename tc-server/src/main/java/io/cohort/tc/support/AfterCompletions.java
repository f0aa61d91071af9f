package io.cohort.tc.support;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends deferred to the end of a batch of completions, on the thread that completed it. The
 * embedded store's completer completes a whole fsync'd batch of futures in one {@link #run}; the
 * phase-2 commands those completions queue for an RM stream then go out once, from that thread,
 * after the last completion: one stream message for all of them, and no hand-off to a sender
 * thread (one wake-up fewer per batch). The answers they complete for one Calls stream are
 * {@linkplain #collect collected} into one stream message the same way. Outside a batch
 * {@link #defer} and {@link #collect} decline and the caller sends its own way.
 */
public final class AfterCompletions {

    private static final Logger log = LoggerFactory.getLogger(AfterCompletions.class);
    private static final ThreadLocal<ArrayDeque<Runnable>> DEFERRED = new ThreadLocal<>();
    /** Per thread in a batch: the items collected so far for each sink whose flush has not run yet. */
    private static final ThreadLocal<Map<Object, List<Object>>> COLLECTED = ThreadLocal.withInitial(IdentityHashMap::new);

    private AfterCompletions() {
    }

    /**
     * Runs {@code completions}, then on this thread every action deferred while they (or the
     * deferred actions themselves) ran, in the order deferred. Nested, the outer batch runs them.
     */
    public static void run(Runnable completions) {
        if (DEFERRED.get() != null) {
            completions.run();
            return;
        }
        ArrayDeque<Runnable> deferred = new ArrayDeque<>();
        DEFERRED.set(deferred);
        try {
            completions.run();
        } finally {
            try {
                for (Runnable action = deferred.poll(); action != null; action = deferred.poll()) {
                    try {
                        action.run();
                    } catch (RuntimeException e) { // one failed send must not keep the others from going
                        log.warn("An action deferred to the end of a batch of completions failed: {}", e.toString(), e);
                    }
                }
            } finally {
                DEFERRED.remove(); // else the thread's later batches would take themselves for nested ones
            }
        }
    }

    /**
     * Defers {@code action} to the end of the batch this thread is completing and answers true; false
     * when it is completing none (the caller then runs it as it would have).
     */
    public static boolean defer(Runnable action) {
        ArrayDeque<Runnable> deferred = DEFERRED.get();
        if (deferred == null) {
            return false;
        }
        deferred.add(action);
        return true;
    }

    /**
     * Adds {@code item} to what this thread's batch collects for {@code sink} and answers true: at the
     * batch's end {@code flush} gets every item collected for {@code sink}, in order, once (the flush
     * of the first item collected is the one that runs). False when this thread is completing no batch.
     */
    @SuppressWarnings("unchecked")
    public static <T> boolean collect(Object sink, T item, Consumer<List<T>> flush) {
        ArrayDeque<Runnable> deferred = DEFERRED.get();
        if (deferred == null) {
            return false;
        }
        Map<Object, List<Object>> collected = COLLECTED.get();
        List<Object> items = collected.get(sink);
        if (items == null) {
            List<Object> fresh = new ArrayList<>();
            items = fresh;
            collected.put(sink, fresh);
            // Taken out before the flush: an item collected by a later deferred action starts a new list.
            deferred.add(() -> flush.accept((List<T>) collected.remove(sink)));
        }
        items.add(item);
        return true;
    }
}
