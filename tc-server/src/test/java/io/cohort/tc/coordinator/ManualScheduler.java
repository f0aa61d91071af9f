package io.cohort.tc.coordinator;

import io.cohort.tc.ManualClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.FutureTask;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A scheduler on a {@link ManualClock}: nothing runs until the test calls {@link #advance}, which
 * moves the clock step by step to each task's due time and runs it there, on the test's thread
 * (as Kafka's MockScheduler does). {@link #execute} runs at once.
 */
final class ManualScheduler extends AbstractExecutorService implements ScheduledExecutorService {

    private final ManualClock clock;
    private final PriorityQueue<Task<?>> queue = new PriorityQueue<>(
            Comparator.<Task<?>>comparingLong(t -> t.dueMs).thenComparingLong(t -> t.seq));
    private long nextSeq;

    ManualScheduler(ManualClock clock) {
        this.clock = clock;
    }

    /** Moves time on by {@code by}, running every task that falls due on the way, at its due time. */
    void advance(Duration by) {
        long until = clock.millis() + by.toMillis();
        while (true) {
            Task<?> next;
            synchronized (this) {
                next = queue.peek();
                if (next == null || next.dueMs > until) {
                    break;
                }
                queue.poll();
            }
            if (next.dueMs > clock.millis()) {
                clock.advance(Duration.ofMillis(next.dueMs - clock.millis()));
            }
            next.runOnce();
        }
        if (until > clock.millis()) {
            clock.advance(Duration.ofMillis(until - clock.millis()));
        }
    }

    /** Runs what is due now without moving time. */
    void runDue() {
        advance(Duration.ZERO);
    }

    private synchronized <V> Task<V> add(Task<V> task) {
        queue.add(task);
        return task;
    }

    private final class Task<V> extends FutureTask<V> implements ScheduledFuture<V> {
        private long dueMs;
        private final long periodMs; // 0: once
        private final long seq = nextSeq++;

        Task(Callable<V> callable, long delayMs, long periodMs) {
            super(callable);
            this.dueMs = clock.millis() + Math.max(0, delayMs);
            this.periodMs = periodMs;
        }

        void runOnce() {
            if (periodMs == 0) {
                run();
            } else if (runAndReset()) {
                dueMs = clock.millis() + periodMs;
                add(this);
            }
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            synchronized (ManualScheduler.this) {
                queue.remove(this);
            }
            return super.cancel(mayInterruptIfRunning);
        }

        @Override
        public long getDelay(TimeUnit unit) {
            return unit.convert(dueMs - clock.millis(), TimeUnit.MILLISECONDS);
        }

        @Override
        public int compareTo(Delayed other) {
            return Long.compare(getDelay(TimeUnit.MILLISECONDS), other.getDelay(TimeUnit.MILLISECONDS));
        }
    }

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
        return add(new Task<>(() -> {
            command.run();
            return null;
        }, unit.toMillis(delay), 0));
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
        return add(new Task<>(callable, unit.toMillis(delay), 0));
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
        return scheduleWithFixedDelay(command, initialDelay, period, unit);
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
        return add(new Task<>(() -> {
            command.run();
            return null;
        }, unit.toMillis(initialDelay), Math.max(1, unit.toMillis(delay))));
    }

    @Override
    public void execute(Runnable command) {
        command.run();
    }

    @Override
    public void shutdown() {
        synchronized (this) {
            queue.clear();
        }
    }

    @Override
    public List<Runnable> shutdownNow() {
        shutdown();
        return new ArrayList<>();
    }

    @Override
    public boolean isShutdown() {
        return false;
    }

    @Override
    public boolean isTerminated() {
        return false;
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
        return true;
    }
}
