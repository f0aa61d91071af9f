package io.cohort.tc.coordinator;

import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.support.LogText;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Branch registrations that wait at the TC for a global row lock held by another global
 * transaction, and are woken when it is released, instead of the RM polling with a backoff.
 *
 * <p>A registration whose caller is willing to wait ({@code lock_wait_ms} in the request) and that
 * conflicts joins the queue of the row it conflicted on. Queues are FIFO by first arrival: when the
 * holder's locks are released in this replica ({@link #released}: the commit decision, or the end
 * of a rollback), only the first waiter of each of its rows tries again; if it takes the row, the
 * next waits for it in turn; if it does not (another of its rows is held), it moves to that row's
 * queue, keeping its place by arrival, and the next one tries. A registration that arrives while a
 * row is free takes it without queueing (like a non-fair lock): the queue orders waiters, it does
 * not hold rows.
 *
 * <p>Every wait is bounded: by the caller's deadline (capped by {@code maxWait}), after which it is
 * answered the conflict as it stands (the holder named, as without waiting); by {@code maxWaiters}
 * in all, past which a conflict is answered at once with nothing waited, so the RM falls back to its
 * own backoff; and it is cut short when the holder starts rolling back ({@link #rollingBack}), whose
 * undo needs the rows the waiter's local transaction holds. Locks released by another replica (a
 * shared PostgreSQL store) are not seen here: the first waiter of each row re-checks every
 * {@code recheckInterval} (the others have only their deadline's timer, so a long line costs no
 * timer work). A waiter whose caller went away ({@code cancel} of its future) leaves its queue.
 *
 * <p>One monitor guards the queues; attempts (store calls) and completions run outside it.
 */
public final class LockWaits {

    private static final Logger log = LoggerFactory.getLogger(LockWaits.class);

    /** Released holders remembered, so a conflict answered just before the release does not sleep. */
    private static final int RELEASED_REMEMBERED = 16_384;

    /** One registration attempt: the store's atomic check-and-take of every row of the branch. */
    @FunctionalInterface
    public interface Attempt {
        CompletableFuture<RegisterResult> run();
    }

    /**
     * @param maxWaiters      registrations waiting at once, in all; 0 turns waiting off
     * @param maxWait         the longest wait granted, whatever the caller asks
     * @param recheckInterval how often the first waiter of a row tries again without being woken
     *                        (locks released by another replica)
     */
    public record Settings(int maxWaiters, Duration maxWait, Duration recheckInterval) {
        public Settings {
            if (maxWaiters < 0) {
                throw new IllegalArgumentException("cohort.tc.lock-wait.max-waiters must be 0 or more, was " + maxWaiters);
            }
            if (maxWait.isNegative()) {
                throw new IllegalArgumentException("cohort.tc.lock-wait.max-wait must be 0 or more, was " + maxWait);
            }
            if (recheckInterval.toMillis() < 1) {
                throw new IllegalArgumentException("cohort.tc.lock-wait.recheck-interval must be at least 1ms, was "
                        + recheckInterval);
            }
        }

        public static Settings off() {
            return new Settings(0, Duration.ZERO, Duration.ofSeconds(1));
        }
    }

    /** What the caller is answered: the registration's result and how long it was held at the TC. */
    public record Outcome(RegisterResult result, long waitedMs) {
    }

    private final class Waiter {
        final long seq;
        final String xid;
        final Attempt attempt;
        final long startNanos;
        final long deadlineNanos;
        final CompletableFuture<Outcome> answer = new CompletableFuture<>();
        boolean admitted;
        RowKey queuedOn;
        RowKey wokenFrom;
        RegisterResult.Conflict lastConflict;
        ScheduledFuture<?> timer;
        int timerSeq; // a timer that fires after a newer one was set is stale
        boolean rechecking; // its timer is the re-check of the first waiter, not only its deadline

        Waiter(long seq, String xid, Attempt attempt, long startNanos, long deadlineNanos) {
            this.seq = seq;
            this.xid = xid;
            this.attempt = attempt;
            this.startNanos = startNanos;
            this.deadlineNanos = deadlineNanos;
        }
    }

    /** The waiters of one row, by arrival, and who holds the row as far as this replica knows. */
    private static final class Queue {
        final RowKey row;
        final TreeSet<Waiter> waiters = new TreeSet<>((a, b) -> Long.compare(a.seq, b.seq));
        RowLock lock;
        Waiter inFlight;

        Queue(RowKey row) {
            this.row = row;
        }
    }

    private final Settings settings;
    private final ScheduledExecutorService timer;
    private final Clock clock;
    private final LongSupplier nanoTime;
    private final Predicate<String> holderRollingBack;
    private final TcMetrics metrics;
    private final Map<RowKey, Queue> queues = new HashMap<>();
    private final Map<String, Set<RowKey>> rowsByHolder = new HashMap<>();
    private final Map<String, Boolean> released = new LinkedHashMap<>(1024, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > RELEASED_REMEMBERED;
        }
    };
    private long nextSeq;
    private int admitted;

    /**
     * @param holderRollingBack whether a holder's rollback is decided (it needs its rows back)
     * @param metrics           may be null (tests)
     */
    public LockWaits(Settings settings, ScheduledExecutorService timer, Clock clock, LongSupplier nanoTime,
                     Predicate<String> holderRollingBack, TcMetrics metrics) {
        this.settings = settings;
        this.timer = timer;
        this.clock = clock;
        this.nanoTime = nanoTime;
        this.holderRollingBack = holderRollingBack;
        this.metrics = metrics;
    }

    /**
     * Registers through {@code attempt}, waiting up to {@code waitMs} (capped by {@code maxWait}) for
     * rows held by other global transactions. The future completes with the last attempt's result;
     * cancelling it takes the waiter out of its queue.
     */
    public CompletableFuture<Outcome> register(String xid, long waitMs, Attempt attempt) {
        long wait = Math.min(waitMs, settings.maxWait().toMillis());
        if (wait <= 0 || settings.maxWaiters() == 0) {
            return call(attempt).thenApply(r -> new Outcome(r, 0));
        }
        long now = nanoTime.getAsLong();
        Waiter w;
        synchronized (this) {
            w = new Waiter(nextSeq++, xid, attempt, now, now + TimeUnit.MILLISECONDS.toNanos(wait));
        }
        w.answer.whenComplete((r, e) -> {
            if (w.answer.isCancelled()) {
                cancelled(w);
            }
        });
        run(w);
        return w.answer;
    }

    /**
     * {@code xid}'s row locks were released in this replica (on the embedded store as soon as the release
     * is applied, see {@code TransactionStore#durableInApplyOrder}): the first waiter of each of its rows
     * tries again.
     */
    public void released(String xid) {
        List<Runnable> later = new ArrayList<>();
        synchronized (this) {
            released.put(xid, Boolean.TRUE);
            Set<RowKey> rows = rowsByHolder.remove(xid);
            if (rows != null) {
                for (RowKey row : rows) {
                    Queue q = queues.get(row);
                    if (q != null && q.lock != null && q.lock.xid().equals(xid)) {
                        wakeNext(q, later);
                    }
                }
            }
        }
        later.forEach(Runnable::run);
    }

    /**
     * {@code xid} is rolling back in this replica: its undo needs the rows that its waiters' local
     * transactions hold, so they are answered the conflict now instead of holding it up.
     */
    public void rollingBack(String xid) {
        List<Waiter> answered = new ArrayList<>();
        synchronized (this) {
            Set<RowKey> rows = rowsByHolder.get(xid);
            if (rows == null) {
                return;
            }
            for (RowKey row : rows) {
                Queue q = queues.get(row);
                if (q == null || q.lock == null || !q.lock.xid().equals(xid)) {
                    continue;
                }
                for (Waiter w : q.waiters) {
                    w.queuedOn = null;
                    answered.add(w);
                }
                q.waiters.clear();
                dropIfIdle(q);
            }
        }
        for (Waiter w : answered) {
            finish(w, w.lastConflict, null);
        }
    }

    /** Registrations waiting now (queued, or trying again after a wake). */
    public synchronized int waiting() {
        return admitted;
    }

    // ---- inside ----

    private static CompletableFuture<RegisterResult> call(Attempt attempt) {
        try {
            return attempt.run();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private void run(Waiter w) {
        call(w.attempt).whenComplete((r, e) -> afterAttempt(w, r, e));
    }

    private void afterAttempt(Waiter w, RegisterResult result, Throwable error) {
        // Asked outside the monitor: on a shared store it is a database read.
        boolean holderEnding = result instanceof RegisterResult.Conflict c && holderRollingBack.test(c.heldBy().xid());
        List<Runnable> later = new ArrayList<>();
        boolean answer = false;
        synchronized (this) {
            RowKey from = w.wokenFrom;
            w.wokenFrom = null;
            Queue fromQueue = from == null ? null : queues.get(from);
            if (fromQueue != null && fromQueue.inFlight == w) {
                fromQueue.inFlight = null;
            } else {
                fromQueue = null;
            }
            if (error != null || !(result instanceof RegisterResult.Conflict conflict)) {
                answer = true;
                if (fromQueue != null) {
                    if (result instanceof RegisterResult.Registered r && !released.containsKey(w.xid)) {
                        // The row is w's now: the next waiter waits for w to end.
                        fromQueue.lock = new RowLock(fromQueue.row, w.xid, r.branchId(), clock.millis());
                        if (!fromQueue.waiters.isEmpty()) {
                            rowsByHolder.computeIfAbsent(w.xid, k -> new HashSet<>()).add(fromQueue.row);
                        }
                        dropIfIdle(fromQueue);
                    } else {
                        wakeNext(fromQueue, later);
                    }
                }
            } else {
                w.lastConflict = conflict;
                RowKey row = conflict.heldBy().row();
                if (fromQueue != null && !from.equals(row)) {
                    wakeNext(fromQueue, later); // w is held up elsewhere now; the row it was woken for may be free
                }
                long now = nanoTime.getAsLong();
                if (w.answer.isDone()) {
                    // cancelled while trying: nothing to queue
                } else if (holderEnding || now >= w.deadlineNanos) {
                    answer = true;
                } else if (released.containsKey(conflict.heldBy().xid())) {
                    later.add(() -> run(w)); // released between the store's answer and now: try again at once
                } else if (!w.admitted && admitted >= settings.maxWaiters()) {
                    answer = true;
                    if (metrics != null) {
                        metrics.lockWaitRefused();
                    }
                } else {
                    if (!w.admitted) {
                        w.admitted = true;
                        admitted++;
                    }
                    enqueue(w, conflict.heldBy(), now, fromQueue != null && fromQueue.row.equals(row) ? fromQueue : null);
                }
            }
            if (fromQueue != null) {
                firstRechecks(fromQueue);
            }
        }
        if (answer) {
            finish(w, result, error);
        }
        later.forEach(Runnable::run);
    }

    private void enqueue(Waiter w, RowLock heldBy, long now, Queue known) {
        Queue q = known != null ? known : queues.computeIfAbsent(heldBy.row(), Queue::new);
        queues.putIfAbsent(q.row, q);
        q.lock = heldBy;
        q.waiters.add(w);
        w.queuedOn = q.row;
        rowsByHolder.computeIfAbsent(heldBy.xid(), k -> new HashSet<>()).add(q.row);
        schedule(w, q, now);
    }

    /**
     * Sets {@code w}'s timer: the first waiter of a queue looks again every {@code recheckInterval} (a
     * release by another replica); the others, whom only a hand-on would let try, wake at their deadline.
     */
    private void schedule(Waiter w, Queue q, long now) {
        w.rechecking = q.waiters.first() == w;
        long delay = w.deadlineNanos - now;
        if (w.rechecking) {
            delay = Math.min(delay, settings.recheckInterval().toNanos());
        }
        int seq = ++w.timerSeq;
        w.timer = timer.schedule(() -> timerFired(w, seq), Math.max(0, delay), TimeUnit.NANOSECONDS);
    }

    /**
     * The waiter now first in {@code q} starts re-checking (the one before it took the row, moved on,
     * expired or left); not while a woken one is trying, which may come back to its place first.
     */
    private void firstRechecks(Queue q) {
        Waiter first = q.inFlight != null || q.waiters.isEmpty() ? null : q.waiters.first();
        if (first != null && !first.rechecking) {
            if (first.timer != null) {
                first.timer.cancel(false);
            }
            schedule(first, q, nanoTime.getAsLong());
        }
    }

    private void timerFired(Waiter w, int seq) {
        List<Runnable> later = new ArrayList<>();
        boolean expired = false;
        synchronized (this) {
            if (w.queuedOn == null || w.answer.isDone() || seq != w.timerSeq) {
                return; // trying again, answered, or a newer timer is set
            }
            Queue q = queues.get(w.queuedOn);
            long now = nanoTime.getAsLong();
            if (now >= w.deadlineNanos) {
                q.waiters.remove(w);
                w.queuedOn = null;
                if (q.lock != null) {
                    w.lastConflict = new RegisterResult.Conflict(q.lock); // who holds it now, as far as we know
                }
                firstRechecks(q);
                dropIfIdle(q);
                expired = true;
            } else if (q.inFlight == null && q.waiters.first() == w) {
                wakeNext(q, later); // released elsewhere (another replica)? the first waiter looks again
            } else {
                schedule(w, q, now);
            }
        }
        if (expired) {
            finish(w, w.lastConflict, null);
        }
        later.forEach(Runnable::run);
    }

    /** The first waiter of {@code q} tries again, unless one is trying already. */
    private void wakeNext(Queue q, List<Runnable> later) {
        if (q.inFlight != null) {
            return;
        }
        Waiter next = q.waiters.pollFirst();
        if (next == null) {
            dropIfIdle(q);
            return;
        }
        q.inFlight = next;
        next.queuedOn = null;
        next.wokenFrom = q.row;
        if (next.timer != null) {
            next.timer.cancel(false);
        }
        later.add(() -> run(next));
    }

    private void dropIfIdle(Queue q) {
        if (q.waiters.isEmpty() && q.inFlight == null) {
            queues.remove(q.row, q);
        }
    }

    private void cancelled(Waiter w) {
        List<Runnable> later = new ArrayList<>();
        synchronized (this) {
            if (w.queuedOn != null) {
                Queue q = queues.get(w.queuedOn);
                if (q != null) {
                    q.waiters.remove(w);
                    firstRechecks(q);
                    dropIfIdle(q);
                }
                w.queuedOn = null;
            }
            if (w.timer != null) {
                w.timer.cancel(false);
            }
            if (w.admitted) {
                w.admitted = false;
                admitted--;
            }
        }
        later.forEach(Runnable::run);
    }

    private void finish(Waiter w, RegisterResult result, Throwable error) {
        synchronized (this) {
            if (w.timer != null) {
                w.timer.cancel(false);
            }
            if (w.admitted) {
                w.admitted = false;
                admitted--;
            }
        }
        long waitedMs = TimeUnit.NANOSECONDS.toMillis(nanoTime.getAsLong() - w.startNanos);
        if (metrics != null && w.lastConflict != null) {
            metrics.lockWaited(waitedMs, result instanceof RegisterResult.Registered);
        }
        if (error != null) {
            w.answer.completeExceptionally(error);
        } else {
            if (result instanceof RegisterResult.Conflict c && log.isDebugEnabled()) {
                log.debug("Lock wait of xid={} ended after {} ms, {} still held by xid={}", LogText.safe(w.xid),
                        waitedMs, c.heldBy().row().lockKey(), LogText.safe(c.heldBy().xid()));
            }
            w.answer.complete(new Outcome(result, waitedMs));
        }
    }
}
