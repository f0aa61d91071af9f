package io.cohort.tc.support;

import java.util.ArrayDeque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends deferred to the end of a batch of completions, on the thread that completed it. The
 * embedded store's completer completes a whole fsync'd batch of futures in one {@link #run}; the
 * phase-2 commands those completions queue for an RM stream then go out once, from that thread,
 * after the last completion: one stream message for all of them, and no hand-off to a sender
 * thread (one wake-up fewer per batch). Outside a batch {@link #defer} declines and the caller
 * sends its own way.
 */
public final class AfterCompletions {

    private static final Logger log = LoggerFactory.getLogger(AfterCompletions.class);
    private static final ThreadLocal<ArrayDeque<Runnable>> DEFERRED = new ThreadLocal<>();

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
}
