package io.cohort.tc.store.embedded;

import io.cohort.tc.store.StoreUnavailableException;
import io.cohort.tc.support.AfterCompletions;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Timer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The single thread that appends to the log: it takes every pending record from the queue, writes
 * them behind a {@link LogRecord.Batch} header with one {@code FileChannel.write}, forces them with one {@code force(false)} (group commit:
 * whatever arrived while the previous fsync ran shares the next one), then hands the batch's
 * futures to the completer thread so callers' continuations never run on, or block, this thread.
 *
 * <p>The queue order is the order in which changes were applied to memory (the store appends under
 * its mutex), so the log always replays to the state callers saw. A failed write or fsync fails the
 * batch and everything queued after it, and the store refuses writes. Every
 * {@link #RETRY_INTERVAL_NANOS} the writer then checks that the disk takes writes again (a probe
 * file the size of the failed batch, forced) and, if so, cuts the failed batch off the log and
 * has the store {@linkplain Reopener reopen} from what is on disk; see {@link EmbeddedTransactionStore}.
 *
 * <p>The log is written into space filled with zeros ahead of it ({@link #PREALLOCATED_BYTES} at a
 * time), so an fsync of a batch flushes only data: appending past the file's end made every fsync
 * also journal the file's new size, which cost about a third more CPU per fsync here
 * (bench/MEASUREMENTS.md). Recovery reads the zeros after the last batch as unused space and cuts
 * them off; a clean close and a segment switch cut them off first, so only a log that was being
 * written when the process stopped ends in zeros.
 */
final class LogWriter {

    private static final Logger LOG = LoggerFactory.getLogger(LogWriter.class);

    /** One queued record (or, with a null frame, a barrier: completes once everything before it is durable). */
    record Pending(byte[] frame, CompletableFuture<?> future, Object result) {
    }

    private static final Pending STOP = new Pending(null, null, null);
    static final long RETRY_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);
    static final String PROBE_FILE = "write-probe.tmp";
    private static final int MIN_PROBE_BYTES = 64 * 1024;
    private static final int PREALLOCATED_BYTES = 1024 * 1024;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(64 * 1024);

    /**
     * Rebuilds the store from its files once the failed batch is cut off; called on the writer
     * thread, which fails what is still queued through {@code failQueued} (under the store's mutex,
     * so nothing new is queued meanwhile). Returns null if the store cannot reopen now.
     */
    interface Reopener {
        Recovery.Result reopen(Runnable failQueued) throws IOException;
    }

    private final Path directory;
    private final boolean fsync;
    private final long maxDelayNanos;
    private final int maxBatch;
    private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    private final ExecutorService completer;
    private final Timer fsyncTimer;
    private final DistributionSummary batchSize;
    private final AtomicLong segmentBytes;
    private final Consumer<StoreUnavailableException> onFailure;
    private final Reopener reopener;
    private final Consumer<LogWriter> afterBatch;
    private final Thread thread;

    private FileChannel channel;
    private long generation;
    private ByteBuffer buffer = ByteBuffer.allocateDirect(256 * 1024);
    /** The file's size: zeros from the end of the last batch ({@code segmentBytes}) to here. */
    private long allocatedBytes;
    /** False once the disk refused the zeros: this segment is appended to as it grows. */
    private boolean preallocating = true;
    private volatile StoreUnavailableException failure;
    private int failedBatchBytes;
    private long lastAttempt;
    private int attempts;

    LogWriter(Path directory, FileChannel channel, long generation, EmbeddedStoreConfig config,
              ExecutorService completer, Timer fsyncTimer, DistributionSummary batchSize, AtomicLong segmentBytes,
              Consumer<StoreUnavailableException> onFailure, Reopener reopener, Consumer<LogWriter> afterBatch)
            throws IOException {
        this.directory = directory;
        this.channel = channel;
        this.generation = generation;
        this.fsync = config.fsync();
        this.maxDelayNanos = config.maxBatchDelay().toNanos();
        this.maxBatch = config.maxBatchRecords();
        this.completer = completer;
        this.fsyncTimer = fsyncTimer;
        this.batchSize = batchSize;
        this.segmentBytes = segmentBytes;
        this.onFailure = onFailure;
        this.reopener = reopener;
        this.afterBatch = afterBatch;
        segmentBytes.set(channel.size());
        allocatedBytes = channel.size();
        this.thread = new Thread(this::run, "cohort-store-writer");
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Queues a record; the caller holds the store's mutex so queue order is memory order. */
    void append(byte[] frame, CompletableFuture<?> future, Object result) {
        queue.add(new Pending(frame, future, result));
    }

    /** Queues the end; everything appended before is written, forced and completed first. */
    void stop() {
        queue.add(STOP);
    }

    void join() throws InterruptedException {
        thread.join();
    }

    boolean isAlive() {
        return thread.isAlive();
    }

    long generation() {
        return generation;
    }

    private void run() {
        List<Pending> batch = new ArrayList<>();
        boolean stop = false;
        while (!stop) {
            try {
                Pending first = failure == null ? queue.take() : queue.poll(RETRY_INTERVAL_NANOS, TimeUnit.NANOSECONDS);
                if (failure != null && System.nanoTime() - lastAttempt >= RETRY_INTERVAL_NANOS) {
                    tryToReopen();
                }
                if (first == null) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, maxBatch - 1);
                if (maxDelayNanos > 0) {
                    waitForMore(batch);
                }
            } catch (InterruptedException e) {
                LOG.warn("Store writer interrupted; it keeps running until the store is closed");
                continue;
            }
            stop = batch.get(batch.size() - 1) == STOP;
            if (stop) {
                batch.remove(batch.size() - 1);
            }
            try {
                writeBatch(batch);
                if (!stop && failure == null) {
                    afterBatch.accept(this);
                }
            } catch (Throwable e) { // an Error here must not strand callers: fail the store instead
                failed(batch, "an unexpected " + e, e);
            }
            batch = new ArrayList<>();
        }
        try {
            if (failure == null) {
                // Everything above is written and forced: mark the clean close (see CleanClose).
                cutUnusedSpace(channel);
                CleanClose.write(directory, generation, segmentBytes.get(), fsync);
            }
        } catch (IOException e) {
            LOG.warn("Writing the clean-close marker in {} failed: {}; the next start will take a torn last batch for a"
                    + " crash's", directory, e.toString());
        }
        try {
            channel.close();
        } catch (IOException e) {
            LOG.warn("Closing log {} failed: {}", LogFiles.log(directory, generation), e.toString());
        }
    }

    private void waitForMore(List<Pending> batch) throws InterruptedException {
        long deadline = System.nanoTime() + maxDelayNanos;
        while (batch.size() < maxBatch && batch.get(batch.size() - 1) != STOP) {
            long left = deadline - System.nanoTime();
            Pending next = left > 0 ? queue.poll(left, TimeUnit.NANOSECONDS) : null;
            if (next == null) {
                return;
            }
            batch.add(next);
            queue.drainTo(batch, maxBatch - batch.size());
        }
    }

    private void writeBatch(List<Pending> batch) {
        if (batch.isEmpty()) {
            return;
        }
        if (failure != null) {
            fail(batch, failure);
            return;
        }
        int bytes = 0;
        int records = 0;
        for (Pending p : batch) {
            if (p.frame != null) {
                bytes += p.frame.length;
                records++;
            }
        }
        if (records > 0) {
            long offset = segmentBytes.get();
            byte[] header = RecordCodec.encode(new LogRecord.Batch(records, bytes));
            try {
                preallocate(offset, offset + header.length + bytes);
                ByteBuffer buf = buffer(header.length + bytes);
                buf.put(header);
                for (Pending p : batch) {
                    if (p.frame != null) {
                        buf.put(p.frame);
                    }
                }
                buf.flip();
                LogFiles.writeFully(channel, buf);
                if (fsync) {
                    long start = System.nanoTime();
                    channel.force(false);
                    fsyncTimer.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
                }
                allocatedBytes = Math.max(allocatedBytes, segmentBytes.addAndGet(header.length + bytes));
                batchSize.record(records);
            } catch (IOException | RuntimeException e) {
                failedBatchBytes = header.length + bytes;
                failed(batch, "writing " + records + " records (" + bytes + " bytes) at offset " + offset, e);
                return;
            }
        }
        List<Pending> done = batch;
        // What the completions send (phase-2 commands) goes out once, after the last of them.
        completer.execute(() -> AfterCompletions.run(() -> {
            for (Pending p : done) {
                if (p.future != null) {
                    complete(p.future, p.result);
                }
            }
        }));
    }

    /**
     * Makes sure the file reaches {@code end} for a batch written at {@code logEnd}, filling
     * {@link #PREALLOCATED_BYTES} more with zeros when it does not (never below {@code logEnd}). The
     * batch's fsync makes the new size durable with it. A disk that cannot take the zeros gets them
     * taken back, and the segment is appended to as it grows from then on, so a nearly full disk
     * fails on the same batch it always did and is not filled to its end by zeros again.
     */
    private void preallocate(long logEnd, long end) throws IOException {
        if (end <= allocatedBytes || !preallocating) {
            return;
        }
        long target = end + PREALLOCATED_BYTES;
        try {
            for (long at = Math.max(allocatedBytes, logEnd); at < target; ) {
                ByteBuffer zeros = ZEROS.duplicate().limit((int) Math.min(ZEROS.capacity(), target - at));
                at += channel.write(zeros, at);
            }
            allocatedBytes = target;
        } catch (IOException e) {
            channel.truncate(logEnd);
            allocatedBytes = logEnd;
            preallocating = false;
            LOG.info("The disk did not take {} bytes of zeros ahead of the log {} ({}); appending to it as it grows",
                    PREALLOCATED_BYTES, LogFiles.log(directory, generation), e.toString());
        }
    }

    /** Cuts the zeros after the last batch off, durably: the file ends where the log does. */
    private void cutUnusedSpace(FileChannel ch) throws IOException {
        if (allocatedBytes > segmentBytes.get()) {
            ch.truncate(segmentBytes.get());
            if (fsync) {
                ch.force(true);
            }
        }
        allocatedBytes = segmentBytes.get();
    }

    @SuppressWarnings("unchecked")
    private static void complete(CompletableFuture<?> future, Object result) {
        ((CompletableFuture<Object>) future).complete(result);
    }

    /** The store is failed from here on: this batch fails, and so does everything queued later. */
    private void failed(List<Pending> batch, String what, Throwable e) {
        Path file = LogFiles.log(directory, generation);
        if (failure == null) {
            failure = new StoreUnavailableException("The transaction log " + file + " failed: " + what + ": " + e
                    + ". The store refuses writes until the disk takes writes again (it retries every second);"
                    + " free space in " + directory + " or fix the disk", e);
            LOG.error("Transaction log failure in {}: {}: {}; the store refuses writes and retries every second until"
                    + " the disk takes writes again", file, what, e.toString());
            lastAttempt = System.nanoTime();
            attempts = 0;
            onFailure.accept(failure);
        }
        fail(batch, failure);
    }

    private void fail(List<Pending> batch, StoreUnavailableException cause) {
        List<Pending> failed = batch;
        completer.execute(() -> {
            for (Pending p : failed) {
                if (p.future != null) {
                    p.future.completeExceptionally(cause);
                }
            }
        });
    }

    /**
     * After a failure, between batches: if a probe as large as the failed batch can be written and
     * forced, cuts the log back to the end of its last good batch (everything after it failed and
     * was never acknowledged) and lets the store rebuild its memory from the files, so no failed
     * change stays applied. Anything that goes wrong leaves the store failed for the next try.
     */
    private void tryToReopen() {
        lastAttempt = System.nanoTime();
        attempts++;
        Path file = LogFiles.log(directory, generation);
        long good = segmentBytes.get();
        try {
            probe(Math.max(MIN_PROBE_BYTES, failedBatchBytes));
            channel.truncate(good);
            channel.force(true);
            Recovery.Result reopened = reopener.reopen(() -> {
                List<Pending> stale = new ArrayList<>();
                queue.drainTo(stale);
                fail(stale, failure);
            });
            if (reopened == null) {
                return;
            }
            FileChannel old = channel;
            channel = reopened.channel();
            generation = reopened.generation();
            segmentBytes.set(channel.size());
            allocatedBytes = channel.size();
            preallocating = true;
            failure = null;
            closeQuietly(old);
            LOG.warn("The transaction log {} takes writes again after {} attempt(s): cut back to its last acknowledged"
                    + " batch at offset {}, the store reopened from its files and accepts writes", file, attempts, good);
        } catch (IOException | RuntimeException e) {
            if (attempts == 1 || attempts % 60 == 0) {
                LOG.warn("The transaction log {} still cannot be written ({} attempts): {}", file, attempts, e.toString());
            }
        }
    }

    /** Writes and forces a file of {@code bytes} in the directory, then deletes it: does the disk take writes? */
    private void probe(int bytes) throws IOException {
        Path probe = directory.resolve(PROBE_FILE);
        try (FileChannel ch = FileChannel.open(probe, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer zeros = ByteBuffer.allocate(64 * 1024);
            for (int left = bytes; left > 0; left -= zeros.capacity()) {
                zeros.clear().limit(Math.min(left, zeros.capacity()));
                LogFiles.writeFully(ch, zeros);
            }
            ch.force(false);
        } finally {
            Files.deleteIfExists(probe);
        }
    }

    private void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            LOG.warn("Closing the failed log channel in {} failed: {}", directory, e.toString());
        }
    }

    private ByteBuffer buffer(int bytes) {
        if (buffer.capacity() < bytes) {
            buffer = ByteBuffer.allocateDirect(Math.max(bytes, buffer.capacity() * 2));
        }
        buffer.clear();
        return buffer;
    }

    /**
     * On the writer thread, between batches: starts {@code log-(generation+1)} and switches to it.
     * Everything written so far is already forced, so the old segment is complete.
     */
    long roll() throws IOException {
        cutUnusedSpace(channel); // only the newest log may end in zeros (see LogFiles.readLog)
        long next = generation + 1;
        Files.deleteIfExists(directory.resolve(LogFiles.log(directory, next).getFileName() + ".tmp"));
        FileChannel created = LogFiles.createLog(directory, next, fsync);
        FileChannel old = channel;
        channel = created;
        generation = next;
        segmentBytes.set(created.size());
        allocatedBytes = created.size();
        preallocating = true;
        try {
            old.close();
        } catch (IOException e) {
            LOG.warn("Closing log {} failed: {}", LogFiles.log(directory, next - 1), e.toString());
        }
        return next;
    }

    long segmentBytes() {
        return segmentBytes.get();
    }
}
