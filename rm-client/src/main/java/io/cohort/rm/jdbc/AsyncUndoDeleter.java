package io.cohort.rm.jdbc;

import io.cohort.client.TcException;
import io.cohort.client.TcStoreUnavailableException;
import io.cohort.client.TcUnavailableException;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.RmConfig;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phase-2 commit's only work — deleting undo logs — done in the background, many branches per
 * statement ({@code cohort.rm.undo.delete-batch-size} per DELETE, flushed every
 * {@code cohort.rm.undo.delete-interval}). A failed delete is queued again. Also deletes
 * empty-rollback markers older than {@code cohort.rm.undo.marker-retention}.
 *
 * <p>Deletes still queued when a process dies are lost: the TC heard PHASE2_COMMITTED and will not
 * ask again. So each resource's two-phase undo logs are also checked against the TC
 * ({@link #checkLeftovers}): all of them soon after the resource is wrapped (a restarted or replaced
 * RM finds what its predecessor left), then every {@value #LEFTOVER_PERIOD_MS} ms those at least as
 * old (what a stopped replica of the service left). A row is deleted when the TC says its
 * transaction's outcome is commit — exactly what the lost delete would have done. A row whose
 * transaction no TC knows ended and was forgotten (a TC keeps ended transactions for a while, the
 * embedded store only its most recent {@code cohort.tc.limits.ended-kept}; one waiting for a person
 * is kept), or the TC lost it: such a row is deleted once it is older than
 * {@code cohort.rm.undo.marker-retention}, as the markers are, and left until then. Any other answer,
 * or none, leaves the row.
 */
final class AsyncUndoDeleter implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AsyncUndoDeleter.class);

    private record Pending(String xid, long branchId) {
    }

    /**
     * What one check of the two-phase undo logs found, in rows: deleted as their transaction committed;
     * deleted as no TC knows their transaction and they are older than the marker retention; left for
     * the TC (or a person) to finish; left as no TC knows their transaction yet.
     */
    record LeftoverCheck(int deleted, int expired, int inProgress, int unknownToTc) {
    }

    /** The first check of a newly wrapped resource's undo logs, this soon. */
    private static final long FIRST_LEFTOVER_CHECK_MS = 1_000;
    /** A check that could not finish (the table not created yet, no TC answering) is tried again this soon. */
    private static final long LEFTOVER_RETRY_MS = 10_000;
    /** After a finished check, the next one this much later, for rows at least this old. */
    static final long LEFTOVER_PERIOD_MS = 600_000;
    private static final int LEFTOVER_BATCH = 200;

    private final RmConfig config;
    private final BranchCoordinator coordinator;
    private final Clock clock;
    private final Map<Resource, ConcurrentLinkedQueue<Pending>> queues = new ConcurrentHashMap<>();
    private final ScheduledThreadPoolExecutor scheduler;

    AsyncUndoDeleter(RmConfig config, BranchCoordinator coordinator, Clock clock) {
        this.config = config;
        this.coordinator = coordinator;
        this.clock = clock;
        // Two threads: a check waiting on the TC never holds up the flushes.
        this.scheduler = new ScheduledThreadPoolExecutor(2, r -> {
            Thread t = new Thread(r, "cohort-rm-undo-delete");
            t.setDaemon(true);
            return t;
        });
        scheduler.setExecuteExistingDelayedTasksAfterShutdownPolicy(false); // the next leftover check: not at close
        long interval = config.deleteInterval().toMillis();
        scheduler.scheduleWithFixedDelay(this::flush, interval, interval, TimeUnit.MILLISECONDS);
        long markerEvery = Math.max(60_000, Math.min(3_600_000, config.markerRetention().toMillis() / 4));
        scheduler.scheduleWithFixedDelay(this::deleteOldMarkers, markerEvery, markerEvery, TimeUnit.MILLISECONDS);
    }

    void register(Resource resource) {
        if (queues.putIfAbsent(resource, new ConcurrentLinkedQueue<>()) == null) {
            scheduleLeftoverCheck(resource, FIRST_LEFTOVER_CHECK_MS, 0);
        }
    }

    void enqueue(Resource resource, String xid, long branchId) {
        queues.computeIfAbsent(resource, r -> new ConcurrentLinkedQueue<>()).add(new Pending(xid, branchId));
    }

    /** Deletes everything queued so far. */
    synchronized void flush() {
        for (Map.Entry<Resource, ConcurrentLinkedQueue<Pending>> e : queues.entrySet()) {
            ConcurrentLinkedQueue<Pending> queue = e.getValue();
            while (!queue.isEmpty()) {
                List<Pending> batch = new ArrayList<>(config.deleteBatchSize());
                Pending p;
                while (batch.size() < config.deleteBatchSize() && (p = queue.poll()) != null) {
                    batch.add(p);
                }
                if (!delete(e.getKey(), batch)) {
                    queue.addAll(batch);
                    break;
                }
            }
        }
    }

    private boolean delete(Resource resource, List<Pending> batch) {
        String[] xids = new String[batch.size()];
        long[] ids = new long[batch.size()];
        for (int i = 0; i < xids.length; i++) {
            xids[i] = batch.get(i).xid();
            ids[i] = batch.get(i).branchId();
        }
        try (Connection c = resource.target().getConnection()) {
            c.setAutoCommit(true);
            resource.undoLog().deleteCommitted(c, xids, ids);
            return true;
        } catch (SQLException e) {
            log.warn("Deleting {} undo logs of committed branches on {} failed, will retry: {}", batch.size(),
                    resource.resourceId(), e.getMessage());
            return false;
        }
    }

    /** Deletes empty-rollback markers older than the retention. */
    void deleteOldMarkers() {
        Timestamp cutoff = new Timestamp(clock.millis() - config.markerRetention().toMillis());
        for (Resource resource : queues.keySet()) {
            try (Connection c = resource.target().getConnection()) {
                c.setAutoCommit(true);
                resource.undoLog().deleteMarkersBefore(c, cutoff);
            } catch (SQLException e) {
                log.warn("Deleting old rollback markers on {} failed, will retry: {}", resource.resourceId(), e.getMessage());
            }
        }
    }

    // ---- undo logs whose delete was lost ----

    /**
     * Checks {@code r}'s undo logs written at least {@code minAgeMillis} ago in {@code delayMs}, and
     * schedules the next check: every row again soon until a check of them all finishes, then rows
     * {@value #LEFTOVER_PERIOD_MS} ms old every {@value #LEFTOVER_PERIOD_MS} ms.
     */
    private void scheduleLeftoverCheck(Resource r, long delayMs, long minAgeMillis) {
        try {
            scheduler.schedule(() -> {
                boolean finished = checkLeftovers(r, minAgeMillis) != null;
                scheduleLeftoverCheck(r, finished ? LEFTOVER_PERIOD_MS : LEFTOVER_RETRY_MS,
                        finished ? LEFTOVER_PERIOD_MS : minAgeMillis);
            }, delayMs, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closed) {
            // the RM is closing: no more checks
        }
    }

    /** Checks every resource's two-phase undo logs now, whatever their age (tests); null for a resource whose check could not finish. */
    Map<String, LeftoverCheck> checkLeftoversNow() {
        Map<String, LeftoverCheck> done = new TreeMap<>();
        for (Resource r : queues.keySet()) {
            LeftoverCheck check = checkLeftovers(r, 0);
            done.put(r.resourceId(), check);
        }
        return done;
    }

    /**
     * Asks the TC about the transaction of each two-phase undo log of {@code r} written at least
     * {@code minAgeMillis} ago, and deletes those whose outcome is commit. Returns what it found, or
     * null when it could not finish (the table cannot be read, no TC answers): the next try starts over.
     */
    LeftoverCheck checkLeftovers(Resource r, long minAgeMillis) {
        int deleted = 0;
        int expired = 0;
        int inProgress = 0;
        int unknown = 0;
        String firstUnknown = null;
        BranchCoordinator.StatusProbe tc = null; // opened at the first row: most checks find none
        try (Connection c = r.target().getConnection()) {
            c.setAutoCommit(true);
            UndoLogTable.Branch after = new UndoLogTable.Branch("", 0);
            List<UndoLogTable.Branch> rows;
            do {
                rows = r.undoLog().selectTwoPhaseAfter(c, after.xid(), after.branchId(), minAgeMillis, LEFTOVER_BATCH);
                if (!rows.isEmpty() && tc == null) {
                    tc = coordinator.openStatusProbe(config.terminationProbeTimeout());
                }
                int i = 0;
                while (i < rows.size()) { // one question per transaction: its rows are adjacent in key order
                    String xid = rows.get(i).xid();
                    int end = i;
                    while (end < rows.size() && rows.get(end).xid().equals(xid)) {
                        end++;
                    }
                    GlobalStatus outcome;
                    try {
                        outcome = outcome(tc, xid);
                    } catch (TcUnavailableException | TcStoreUnavailableException e) {
                        throw e;
                    } catch (RuntimeException e) { // refused for this transaction alone (a malformed XID): left
                        log.debug("Asking the TC about {} for the undo logs on {} failed: {}", xid, r.resourceId(),
                                e.toString());
                        inProgress += end - i;
                        i = end;
                        continue;
                    }
                    if (outcome == null) {
                        for (UndoLogTable.Branch b : rows.subList(i, end)) {
                            if (r.undoLog().deleteTwoPhaseWrittenBefore(c, b.xid(), b.branchId(),
                                    config.markerRetention().toMillis())) {
                                expired++;
                            } else {
                                unknown++;
                                firstUnknown = firstUnknown == null ? xid : firstUnknown;
                            }
                        }
                    } else if (outcome.isCommitDecided() && outcome != GlobalStatus.COMMIT_FAILED) {
                        for (UndoLogTable.Branch b : rows.subList(i, end)) {
                            deleted += r.undoLog().deleteTwoPhase(c, b.xid(), b.branchId()) ? 1 : 0;
                        }
                    } else {
                        inProgress += end - i; // the TC drives it, or a person must (COMMIT_FAILED)
                    }
                    i = end;
                }
                after = rows.isEmpty() ? after : rows.get(rows.size() - 1);
            } while (rows.size() == LEFTOVER_BATCH);
        } catch (TcUnavailableException | TcStoreUnavailableException e) {
            log.debug("Checking the undo logs of {} for leftovers: no TC answers ({}); will try again", r.resourceId(),
                    e.getMessage());
            return null;
        } catch (SQLException | RuntimeException e) {
            log.debug("Checking the undo logs of {} for leftovers failed, will try again: {}", r.resourceId(), e.toString());
            return null;
        } finally {
            if (tc != null) {
                tc.close();
            }
        }
        if (deleted > 0) {
            log.info("Deleted {} undo logs of committed branches on {}: their delete was lost when an RM stopped",
                    deleted, r.resourceId());
        }
        if (expired > 0) {
            log.info("Deleted {} undo logs on {} older than cohort.rm.undo.marker-retention ({}) whose transactions no TC"
                    + " knows any more", expired, r.resourceId(), config.markerRetention());
        }
        if (unknown > 0) {
            log.info("{} undo logs on {} belong to transactions no TC knows (first: {}): ended and forgotten by the TC,"
                    + " or lost with its data; they are deleted once older than cohort.rm.undo.marker-retention ({})",
                    unknown, r.resourceId(), firstUnknown, config.markerRetention());
        }
        return new LeftoverCheck(deleted, expired, inProgress, unknown);
    }

    /** The outcome of {@code xid} as a TC answers it; null when the TC does not know it. */
    private static GlobalStatus outcome(BranchCoordinator.StatusProbe tc, String xid) {
        try {
            return GlobalStatus.fromWire(tc.status(xid).getStatus());
        } catch (TcException e) {
            if (e.errorCode() == ErrorCode.UNKNOWN_XID) {
                return null;
            }
            throw e;
        }
    }

    @Override
    public void close() {
        scheduler.shutdown();
        try {
            scheduler.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        flush();
    }
}
