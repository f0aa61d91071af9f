package io.cohort.bench;

import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The closed-loop load of the TC and transfer benchmarks: {@code concurrency} threads run one
 * transaction after another for a while, each timing its own successes in its own array (no
 * sharing on the hot path); a transaction that throws counts as failed and the thread goes on.
 */
final class LoadRun {

    /** One transaction; anything it throws makes it a failure. */
    interface Transaction {
        void run(ThreadLocalRandom random) throws Exception;
    }

    /** The latency of every success in nanoseconds, sorted, and how many failed. */
    record Result(long[] latencies, long failed) {
    }

    private LoadRun() {
    }

    static Result run(int concurrency, Duration length, String threadPrefix, Transaction transaction)
            throws InterruptedException {
        return run(concurrency, length, threadPrefix, transaction, () -> { });
    }

    /** As above; {@code atEnd} runs when {@code length} has passed, while the load's threads still live. */
    static Result run(int concurrency, Duration length, String threadPrefix, Transaction transaction, Runnable atEnd)
            throws InterruptedException {
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicLong failed = new AtomicLong();
        long[][] latencies = new long[concurrency][];
        int[] counts = new int[concurrency];
        CountDownLatch done = new CountDownLatch(concurrency);
        for (int t = 0; t < concurrency; t++) {
            int thread = t;
            new Thread(() -> {
                long[] mine = new long[1 << 16];
                int n = 0;
                ThreadLocalRandom random = ThreadLocalRandom.current();
                while (running.get()) {
                    long t0 = System.nanoTime();
                    try {
                        transaction.run(random);
                    } catch (Throwable e) {
                        failed.incrementAndGet();
                        continue;
                    }
                    if (n == mine.length) {
                        mine = Arrays.copyOf(mine, n * 2);
                    }
                    mine[n++] = System.nanoTime() - t0;
                }
                latencies[thread] = mine;
                counts[thread] = n;
                done.countDown();
            }, threadPrefix + t).start();
        }
        Thread.sleep(length.toMillis());
        atEnd.run();
        running.set(false);
        done.await();
        long[] all = new long[Arrays.stream(counts).sum()];
        int k = 0;
        for (int t = 0; t < concurrency; t++) {
            System.arraycopy(latencies[t], 0, all, k, counts[t]);
            k += counts[t];
        }
        Arrays.sort(all);
        return new Result(all, failed.get());
    }

    /** The {@code p} quantile of {@code sorted} nanosecond latencies, in milliseconds; 0 for none. */
    static double percentileMs(long[] sorted, double p) {
        return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) (sorted.length * p))] / 1e6;
    }
}
