package io.cohort.rm;

import java.util.concurrent.Callable;

/**
 * Marks local work that runs outside any global transaction but must not overwrite (or lock) rows
 * a global transaction holds — the programmatic form of Seata's {@code @GlobalLock}. Under it, the
 * RM collects the primary keys of every UPDATE, DELETE and SELECT ... FOR UPDATE and asks the TC
 * whether they are free before the local commit (SELECT ... FOR UPDATE at once), retrying with
 * backoff, then failing with {@link GlobalLockConflictException}. Nothing is registered and no undo
 * log is written.
 */
public final class GlobalLockContext {

    private static final ThreadLocal<Boolean> ACTIVE = new ThreadLocal<>();

    private GlobalLockContext() {
    }

    public static boolean isActive() {
        return ACTIVE.get() != null;
    }

    /** Runs {@code body} with the global-lock check on, then restores the previous state. */
    public static <T> T call(Callable<T> body) throws Exception {
        Boolean previous = ACTIVE.get();
        ACTIVE.set(Boolean.TRUE);
        try {
            return body.call();
        } finally {
            if (previous == null) {
                ACTIVE.remove();
            }
        }
    }

    /** Like {@link #call} for code that throws nothing checked. */
    public static void run(Runnable body) {
        Boolean previous = ACTIVE.get();
        ACTIVE.set(Boolean.TRUE);
        try {
            body.run();
        } finally {
            if (previous == null) {
                ACTIVE.remove();
            }
        }
    }
}
