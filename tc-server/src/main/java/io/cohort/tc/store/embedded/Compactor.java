package io.cohort.tc.store.embedded;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the log short. When the current segment passes the threshold, the writer thread (between
 * two batches) switches to a new segment {@code log-(g+1)} — a stall of one file creation — and
 * this class's thread writes {@code snapshot-(g+1)} from the live state while writes go on. Once
 * a barrier queued after the snapshot was read has completed (everything the snapshot may contain
 * is durable in the log), the snapshot is renamed into place and older files are deleted. Until
 * then recovery simply replays {@code log-g} and {@code log-(g+1)}, so a crash at any point is safe.
 */
final class Compactor {

    private static final Logger LOG = LoggerFactory.getLogger(Compactor.class);
    private static final long RETRY_AFTER_FAILURE_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final Path directory;
    private final EmbeddedStoreConfig config;
    private final Supplier<MemoryState> state;
    private final Supplier<CompletableFuture<Object>> durableBarrier;
    private final ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "cohort-store-compactor");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean running = new AtomicBoolean();
    private volatile long lastFailure = System.nanoTime() - RETRY_AFTER_FAILURE_NANOS;

    /**
     * @param state          the live state (replaced when the store reopens its log after a failure)
     * @param durableBarrier completes once every change applied to memory before the call is durable
     */
    Compactor(Path directory, EmbeddedStoreConfig config, Supplier<MemoryState> state,
              Supplier<CompletableFuture<Object>> durableBarrier) {
        this.directory = directory;
        this.config = config;
        this.state = state;
        this.durableBarrier = durableBarrier;
    }

    /** On the writer thread, after a batch: starts a compaction if one is due and none runs. */
    void maybeStart(LogWriter writer) {
        if (writer.segmentBytes() < config.compactionThresholdBytes()
                || System.nanoTime() - lastFailure < RETRY_AFTER_FAILURE_NANOS
                || executor.isShutdown()
                || !running.compareAndSet(false, true)) {
            return;
        }
        try {
            long generation = writer.roll();
            executor.execute(() -> compact(generation));
        } catch (IOException | RejectedExecutionException e) {
            running.set(false);
            lastFailure = System.nanoTime();
            LOG.warn("Cannot start log segment {} in {} for compaction; writing on in the current one: {}",
                    writer.generation() + 1, directory, e.toString());
        }
    }

    private void compact(long generation) {
        long started = System.nanoTime();
        Path tmp = null;
        try {
            MemoryState live = state.get();
            tmp = LogFiles.writeSnapshotTemp(directory, generation, live, config.fsync());
            durableBarrier.get().get();
            LogFiles.installSnapshot(tmp, directory, generation, config.fsync());
            tmp = null;
            Recovery.deleteBefore(directory, generation, config.fsync());
            LOG.info("Compacted the store in {}: snapshot-{} with {} transactions in {} ms", directory, generation,
                    live.size(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            lastFailure = System.nanoTime();
            LOG.warn("Compaction of the store in {} to snapshot-{} failed; the logs stay and it is retried later: {}",
                    directory, generation, e.toString());
            deleteQuietly(tmp);
        } finally {
            running.set(false);
        }
    }

    private static void deleteQuietly(Path tmp) {
        if (tmp != null) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the next open deletes stray .tmp files
            }
        }
    }

    /** Whether a compaction is under way (its snapshot and barrier still to come). */
    boolean busy() {
        return running.get();
    }

    /** Lets a running compaction finish (it needs the writer alive for its barrier) and starts no more. */
    void shutdown() throws InterruptedException {
        executor.shutdown();
        if (!executor.awaitTermination(1, TimeUnit.MINUTES)) {
            LOG.warn("Compaction in {} still running after a minute; closing anyway", directory);
        }
    }

    void shutdownNow() {
        executor.shutdownNow();
    }
}
