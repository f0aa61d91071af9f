package io.cohort.rm.jdbc;

import io.cohort.rm.RmConfig;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Phase-2 commit's only work — deleting undo logs — done in the background, many branches per
 * statement ({@code cohort.rm.undo.delete-batch-size} per DELETE, flushed every
 * {@code cohort.rm.undo.delete-interval}). A failed delete is queued again. Also deletes
 * empty-rollback markers older than {@code cohort.rm.undo.marker-retention}.
 *
 * <p>Hazard: deletes still queued when the process dies are lost. The branch is committed either
 * way; the leftover undo log is garbage that no command refers to again, and is only space.
 */
final class AsyncUndoDeleter implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(AsyncUndoDeleter.class);

    private record Pending(String xid, long branchId) {
    }

    private final RmConfig config;
    private final Clock clock;
    private final Map<Resource, ConcurrentLinkedQueue<Pending>> queues = new ConcurrentHashMap<>();
    private final ScheduledExecutorService scheduler;

    AsyncUndoDeleter(RmConfig config, Clock clock) {
        this.config = config;
        this.clock = clock;
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "cohort-rm-undo-delete");
            t.setDaemon(true);
            return t;
        });
        long interval = config.deleteInterval().toMillis();
        scheduler.scheduleWithFixedDelay(this::flush, interval, interval, TimeUnit.MILLISECONDS);
        long markerEvery = Math.max(60_000, Math.min(3_600_000, config.markerRetention().toMillis() / 4));
        scheduler.scheduleWithFixedDelay(this::deleteOldMarkers, markerEvery, markerEvery, TimeUnit.MILLISECONDS);
    }

    void register(Resource resource) {
        queues.putIfAbsent(resource, new ConcurrentLinkedQueue<>());
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
