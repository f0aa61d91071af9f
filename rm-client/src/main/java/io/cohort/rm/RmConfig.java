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
 * @param markerRetention        age after which empty-rollback markers, and two-phase undo logs whose transaction
 *                               no TC knows, are deleted ({@code cohort.rm.undo.marker-retention}, 1 day)
 * @param sqlCacheSize           parsed statements kept per data source ({@code cohort.rm.sql-cache-size}, 2048)
 * @param terminationTimeout     3PC: how long a branch may go without word from the TC before this RM asks
 *                               any TC replica for the outcome and, when none answers, finishes the branch
 *                               on its own ({@code cohort.rm.three-phase.termination-timeout}, 30 s)
 * @param terminationCheckInterval 3PC: how often the RM looks for such branches
 *                               ({@code cohort.rm.three-phase.check-interval}, 1 s)
 * @param terminationProbeTimeout 3PC: the one deadline within which the RM finds out whether any TC replica
 *                               answers before it finishes quiet branches on its own, shared by all of them
 *                               ({@code cohort.rm.three-phase.probe-timeout}, 2 s)
 * @param decisionTable          3PC: table recording what the RM decided on its own and why
 *                               ({@code cohort.rm.three-phase.decision-table}, {@code cohort_branch_decision})
 * @param keyPinnedAutocommitUpdates PostgreSQL: an autocommit UPDATE in a global transaction whose WHERE pins
 *                               the whole (integer) primary key by equality is registered first and then runs,
 *                               writes its undo log and commits in one round trip instead of two
 *                               ({@code cohort.rm.key-pinned-autocommit-updates}, true)
 * @param undoLogFormat          the form undo logs are written in; both are read
 *                               ({@code cohort.rm.undo-log-format}, {@link UndoLogFormat#JSON})
 * @param imagesAtTc             a two-phase branch's undo log (up to 16 KiB; on PostgreSQL, of a branch that
 *                               inserts nothing) is sent to the TC with its registration instead of written as
 *                               a row in the branch's own database ({@code cohort.rm.undo.images-at-tc}, true).
 *                               Off: every undo log is a row, and the TC's store holds no row data
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
        int sqlCacheSize,
        Duration terminationTimeout,
        Duration terminationCheckInterval,
        Duration terminationProbeTimeout,
        String decisionTable,
        boolean keyPinnedAutocommitUpdates,
        UndoLogFormat undoLogFormat,
        boolean imagesAtTc) {

    private static final String TABLE_NAME = "[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?";

    public RmConfig {
        require(lockRetryInterval != null && !lockRetryInterval.isNegative(), "cohort.rm.lock-retry-interval", lockRetryInterval);
        require(lockRetryAttempts >= 1, "cohort.rm.lock-retry-attempts", lockRetryAttempts);
        require(undoTable != null && undoTable.matches(TABLE_NAME), "cohort.rm.undo.table", undoTable);
        require(compressThreshold >= 0, "cohort.rm.undo.compress-threshold", compressThreshold);
        require(maxInflatedBytes > 0, "cohort.rm.undo.max-inflated-bytes", maxInflatedBytes);
        require(deleteBatchSize >= 1, "cohort.rm.undo.delete-batch-size", deleteBatchSize);
        require(deleteInterval != null && deleteInterval.toMillis() > 0, "cohort.rm.undo.delete-interval", deleteInterval);
        require(markerRetention != null && !markerRetention.isNegative(), "cohort.rm.undo.marker-retention", markerRetention);
        require(sqlCacheSize >= 16, "cohort.rm.sql-cache-size", sqlCacheSize);
        require(terminationTimeout != null && terminationTimeout.toMillis() >= 100,
                "cohort.rm.three-phase.termination-timeout (at least 100ms)", terminationTimeout);
        require(terminationCheckInterval != null && terminationCheckInterval.toMillis() >= 10,
                "cohort.rm.three-phase.check-interval (at least 10ms)", terminationCheckInterval);
        require(terminationProbeTimeout != null && terminationProbeTimeout.toMillis() >= 10,
                "cohort.rm.three-phase.probe-timeout (at least 10ms)", terminationProbeTimeout);
        require(decisionTable != null && decisionTable.matches(TABLE_NAME), "cohort.rm.three-phase.decision-table",
                decisionTable);
        require(undoLogFormat != null, "cohort.rm.undo-log-format (accepted: json, binary)", undoLogFormat);
    }

    private static void require(boolean ok, String property, Object value) {
        if (!ok) {
            throw new IllegalArgumentException("Invalid " + property + ": " + value);
        }
    }

    public static RmConfig defaults() {
        return new RmConfig(Duration.ofMillis(20), 30, "undo_log", 4096, 64 * 1024 * 1024, 500,
                Duration.ofMillis(200), Duration.ofDays(1), 2048, Duration.ofSeconds(30), Duration.ofSeconds(1),
                Duration.ofSeconds(2), "cohort_branch_decision", true, UndoLogFormat.JSON, true);
    }

    /** 3PC: the termination timeout and how often it is checked. */
    public RmConfig withTermination(Duration timeout, Duration checkInterval) {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undoTable, compressThreshold, maxInflatedBytes,
                deleteBatchSize, deleteInterval, markerRetention, sqlCacheSize, timeout, checkInterval,
                terminationProbeTimeout, decisionTable, keyPinnedAutocommitUpdates, undoLogFormat, imagesAtTc);
    }

    /** 3PC: the deadline of the probe that finds out whether any TC replica answers. */
    public RmConfig withTerminationProbe(Duration probeTimeout) {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undoTable, compressThreshold, maxInflatedBytes,
                deleteBatchSize, deleteInterval, markerRetention, sqlCacheSize, terminationTimeout,
                terminationCheckInterval, probeTimeout, decisionTable, keyPinnedAutocommitUpdates, undoLogFormat, imagesAtTc);
    }

    /**
     * How long, in all, a branch registration waits for global locks held by other global transactions:
     * what the backoff schedule of {@code lock-retry-interval} and {@code lock-retry-attempts} adds up
     * to (the pauses between the attempts: 8,300 ms with the defaults). The RM asks the TC to hold the
     * registration for what is left of it, so the wait ends when the holder releases the rows; a TC
     * that does not wait gets the backoff schedule itself.
     */
    public Duration lockWaitBudget() {
        long base = lockRetryInterval.toMillis();
        long total = 0;
        for (int attempt = 1; attempt < lockRetryAttempts; attempt++) {
            total += Math.min(base * 16, base << Math.min(attempt - 1, 4));
        }
        return Duration.ofMillis(total);
    }

    public RmConfig withLockRetry(Duration interval, int attempts) {
        return new RmConfig(interval, attempts, undoTable, compressThreshold, maxInflatedBytes, deleteBatchSize,
                deleteInterval, markerRetention, sqlCacheSize, terminationTimeout, terminationCheckInterval,
                terminationProbeTimeout, decisionTable, keyPinnedAutocommitUpdates, undoLogFormat, imagesAtTc);
    }

    /** Whether key-pinned autocommit UPDATEs take the one-round-trip branch ({@code cohort.rm.key-pinned-autocommit-updates}). */
    public RmConfig withKeyPinnedAutocommitUpdates(boolean on) {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undoTable, compressThreshold, maxInflatedBytes,
                deleteBatchSize, deleteInterval, markerRetention, sqlCacheSize, terminationTimeout,
                terminationCheckInterval, terminationProbeTimeout, decisionTable, on, undoLogFormat, imagesAtTc);
    }

    public RmConfig withCompressThreshold(int threshold) {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undoTable, threshold, maxInflatedBytes,
                deleteBatchSize, deleteInterval, markerRetention, sqlCacheSize, terminationTimeout,
                terminationCheckInterval, terminationProbeTimeout, decisionTable, keyPinnedAutocommitUpdates, undoLogFormat, imagesAtTc);
    }

    /** How often queued undo-log deletes are flushed ({@code cohort.rm.undo.delete-interval}). */
    public RmConfig withDeleteInterval(Duration interval) {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undoTable, compressThreshold, maxInflatedBytes,
                deleteBatchSize, interval, markerRetention, sqlCacheSize, terminationTimeout,
                terminationCheckInterval, terminationProbeTimeout, decisionTable, keyPinnedAutocommitUpdates, undoLogFormat, imagesAtTc);
    }

    /** The form undo logs are written in ({@code cohort.rm.undo-log-format}). */
    public RmConfig withUndoLogFormat(UndoLogFormat format) {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undoTable, compressThreshold, maxInflatedBytes,
                deleteBatchSize, deleteInterval, markerRetention, sqlCacheSize, terminationTimeout,
                terminationCheckInterval, terminationProbeTimeout, decisionTable, keyPinnedAutocommitUpdates, format, imagesAtTc);
    }

    /** Whether the TC may hold two-phase branches' undo logs ({@code cohort.rm.undo.images-at-tc}). */
    public RmConfig withImagesAtTc(boolean on) {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undoTable, compressThreshold, maxInflatedBytes,
                deleteBatchSize, deleteInterval, markerRetention, sqlCacheSize, terminationTimeout,
                terminationCheckInterval, terminationProbeTimeout, decisionTable, keyPinnedAutocommitUpdates, undoLogFormat,
                on);
    }
}
