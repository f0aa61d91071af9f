package io.cohort.tc.store.embedded;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Settings of the {@link EmbeddedTransactionStore}. Invalid values fail at construction with a
 * message naming the setting and the value.
 *
 * @param directory                where the log, snapshots and the {@code LOCK} file live (created if missing)
 * @param compactionThresholdBytes when the current log segment passes this size, the store writes a snapshot
 *                                 and starts a new segment
 * @param fsync                    force every batch to disk; {@code false} loses crash safety and exists only
 *                                 for tests that say so
 * @param maxBatchDelay            how long the writer waits for more records before an fsync; zero (the
 *                                 default) still batches everything that arrives while the previous fsync runs
 * @param maxBatchRecords          the most records written and fsynced together
 * @param endedKept                how many finished transactions stay in memory (and readable), the most
 *                                 recently finished; older ones are dropped although the retention has not passed
 */
public record EmbeddedStoreConfig(Path directory, long compactionThresholdBytes, boolean fsync,
                                  Duration maxBatchDelay, int maxBatchRecords, int endedKept) {

    public static final long DEFAULT_COMPACTION_THRESHOLD_BYTES = 64L * 1024 * 1024;
    public static final int DEFAULT_MAX_BATCH_RECORDS = 4096;
    /** Below this a snapshot per few records would cost more than it saves. */
    public static final long MIN_COMPACTION_THRESHOLD_BYTES = 1024;
    public static final Duration MAX_BATCH_DELAY_LIMIT = Duration.ofSeconds(1);
    /** About 40 MB of heap at ~400 bytes a transaction (cohort.tc.limits.ended-kept). */
    public static final int DEFAULT_ENDED_KEPT = 100_000;

    public EmbeddedStoreConfig {
        if (directory == null) {
            throw new IllegalArgumentException("cohort.store.embedded.directory must be set");
        }
        if (compactionThresholdBytes < MIN_COMPACTION_THRESHOLD_BYTES) {
            throw new IllegalArgumentException("cohort.store.embedded.compaction-threshold-bytes is "
                    + compactionThresholdBytes + "; it must be at least " + MIN_COMPACTION_THRESHOLD_BYTES);
        }
        if (maxBatchDelay == null) {
            maxBatchDelay = Duration.ZERO;
        }
        if (maxBatchDelay.isNegative() || maxBatchDelay.compareTo(MAX_BATCH_DELAY_LIMIT) > 0) {
            throw new IllegalArgumentException("cohort.store.embedded.max-batch-delay is " + maxBatchDelay
                    + "; it must be between 0 and " + MAX_BATCH_DELAY_LIMIT);
        }
        if (maxBatchRecords < 1 || maxBatchRecords > 1_000_000) {
            throw new IllegalArgumentException("cohort.store.embedded.max-batch-records is " + maxBatchRecords
                    + "; it must be between 1 and 1000000");
        }
        if (endedKept < 0) {
            throw new IllegalArgumentException("cohort.tc.limits.ended-kept is " + endedKept + "; it must be at least 0");
        }
    }

    /** With the default {@code endedKept}. */
    public EmbeddedStoreConfig(Path directory, long compactionThresholdBytes, boolean fsync, Duration maxBatchDelay,
                               int maxBatchRecords) {
        this(directory, compactionThresholdBytes, fsync, maxBatchDelay, maxBatchRecords, DEFAULT_ENDED_KEPT);
    }

    /** The defaults: 64 MiB segments, fsync on, no added batch delay, up to 4096 records per fsync, 100,000 kept. */
    public static EmbeddedStoreConfig defaults(Path directory) {
        return new EmbeddedStoreConfig(directory, DEFAULT_COMPACTION_THRESHOLD_BYTES, true, Duration.ZERO,
                DEFAULT_MAX_BATCH_RECORDS);
    }

    public EmbeddedStoreConfig withCompactionThresholdBytes(long bytes) {
        return new EmbeddedStoreConfig(directory, bytes, fsync, maxBatchDelay, maxBatchRecords, endedKept);
    }

    public EmbeddedStoreConfig withFsync(boolean enabled) {
        return new EmbeddedStoreConfig(directory, compactionThresholdBytes, enabled, maxBatchDelay, maxBatchRecords,
                endedKept);
    }

    public EmbeddedStoreConfig withEndedKept(int kept) {
        return new EmbeddedStoreConfig(directory, compactionThresholdBytes, fsync, maxBatchDelay, maxBatchRecords, kept);
    }
}
