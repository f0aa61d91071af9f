package io.cohort.rm;

import java.time.Duration;

/**
 * Settings of the resource manager (Spring: {@code cohort.rm.*}). Immutable; {@link #defaults()} is
 * what a user gets without configuring anything.
 *
 * @param lockRetryInterval      first wait after a global lock conflict; doubles up to 16x
 *                               ({@code cohort.rm.lock-retry-interval}, 20 ms)
 * @param lockRetryAttempts      attempts before giving up with {@link GlobalLockConflictException}
 *                               ({@code cohort.rm.lock-retry-attempts}, 30)
 * @param undoTable              name of the undo-log table ({@code cohort.rm.undo.table}, {@code undo_log})
 * @param compressThreshold      undo logs larger than this many bytes are deflated
 *                               ({@code cohort.rm.undo.compress-threshold}, 4096)
 * @param maxInflatedBytes       an undo log that inflates beyond this is refused
 *                               ({@code cohort.rm.undo.max-inflated-bytes}, 64 MiB)
 * @param deleteBatchSize        undo logs deleted per statement at phase-2 commit
 *                               ({@code cohort.rm.undo.delete-batch-size}, 500)
 * @param deleteInterval         how often queued undo-log deletes are flushed
 *                               ({@code cohort.rm.undo.delete-interval}, 200 ms)
 * @param markerRetention        age after which empty-rollback markers are deleted
 *                               ({@code cohort.rm.undo.marker-retention}, 1 day)
 * @param sqlCacheSize           parsed statements kept per data source ({@code cohort.rm.sql-cache-size}, 2048)
 */
public record RmConfig(
        Duration lockRetryInterval,
        int lockRetryAttempts,
        String undoTable,
        int compressThreshold,
        int maxInflatedBytes,
        int deleteBatchSize,
        Duration deleteInterval,
        Duration markerRetention,
        int sqlCacheSize) {

    public RmConfig {
        require(lockRetryInterval != null && !lockRetryInterval.isNegative(), "cohort.rm.lock-retry-interval", lockRetryInterval);
        require(lockRetryAttempts >= 1, "cohort.rm.lock-retry-attempts", lockRetryAttempts);
        require(undoTable != null && undoTable.matches("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?"),
                "cohort.rm.undo.table", undoTable);
        require(compressThreshold >= 0, "cohort.rm.undo.compress-threshold", compressThreshold);
        require(maxInflatedBytes > 0, "cohort.rm.undo.max-inflated-bytes", maxInflatedBytes);
        require(deleteBatchSize >= 1, "cohort.rm.undo.delete-batch-size", deleteBatchSize);
        require(deleteInterval != null && deleteInterval.toMillis() > 0, "cohort.rm.undo.delete-interval", deleteInterval);
        require(markerRetention != null && !markerRetention.isNegative(), "cohort.rm.undo.marker-retention", markerRetention);
        require(sqlCacheSize >= 16, "cohort.rm.sql-cache-size", sqlCacheSize);
    }

    private static void require(boolean ok, String property, Object value) {
        if (!ok) {
            throw new IllegalArgumentException("Invalid " + property + ": " + value);
        }
    }

    public static RmConfig defaults() {
        return new RmConfig(Duration.ofMillis(20), 30, "undo_log", 4096, 64 * 1024 * 1024, 500,
                Duration.ofMillis(200), Duration.ofDays(1), 2048);
    }

    public RmConfig withLockRetry(Duration interval, int attempts) {
        return new RmConfig(interval, attempts, undoTable, compressThreshold, maxInflatedBytes, deleteBatchSize,
                deleteInterval, markerRetention, sqlCacheSize);
    }

    public RmConfig withCompressThreshold(int threshold) {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undoTable, threshold, maxInflatedBytes,
                deleteBatchSize, deleteInterval, markerRetention, sqlCacheSize);
    }
}
