package io.cohort.tc.store.postgres;

import io.cohort.tc.store.TransactionStore.Unfinished;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The count of unfinished transactions for the caps at begin, without a query per begin: the
 * database's count (all applications in one statement) is taken again when it is older than
 * {@code maxAge}, and this replica's begins since it was taken are added to it. The answer errs high
 * (transactions that finished since the count still count) except for the begins of other replicas
 * since the count: a cap may be passed by what they begin within {@code maxAge}. The coordinator
 * asks for an exact count before it refuses a begin, so a cap never refuses on a stale count.
 */
final class UnfinishedCount {

    static final Duration DEFAULT_MAX_AGE = Duration.ofMillis(100);

    /** This replica's begins since a count was started. */
    private static final class Begun {
        final LongAdder total = new LongAdder();
        final Map<String, LongAdder> byApplication = new ConcurrentHashMap<>();

        long of(String applicationId) {
            LongAdder n = byApplication.get(applicationId);
            return n == null ? 0 : n.sum();
        }
    }

    private record Snapshot(long takenNanos, long total, Map<String, Long> byApplication, Begun begunSince) {
    }

    private final JdbcRunner jdbc;
    private final long maxAgeNanos;
    private final ReentrantLock refreshing = new ReentrantLock();
    private volatile Begun current = new Begun();
    private volatile Snapshot snapshot;

    UnfinishedCount(JdbcRunner jdbc, Duration maxAge) {
        this.jdbc = jdbc;
        this.maxAgeNanos = maxAge.toNanos();
    }

    /** Records a begin of this replica (called when its insert is queued). */
    void begun(String applicationId) {
        Begun b = current;
        b.total.increment();
        b.byApplication.computeIfAbsent(applicationId == null ? "" : applicationId, k -> new LongAdder()).increment();
    }

    Unfinished count(String applicationId, boolean exact) {
        String app = applicationId == null ? "" : applicationId;
        Snapshot s = snapshot;
        if (exact || s == null || System.nanoTime() - s.takenNanos > maxAgeNanos) {
            // One thread counts; the others go on with the last count unless there is none (or it must be exact).
            if (exact || s == null) {
                refreshing.lock();
            } else if (!refreshing.tryLock()) {
                return answer(s, app);
            }
            try {
                Snapshot latest = snapshot;
                if (exact || latest == null || latest == s) {
                    refresh();
                }
            } finally {
                refreshing.unlock();
            }
            s = snapshot;
        }
        return answer(s, app);
    }

    private Unfinished answer(Snapshot s, String app) {
        Begun since = s.begunSince;
        Begun now = current;
        long total = s.total + since.total.sum() + (now != since ? now.total.sum() : 0);
        long ofApp = s.byApplication.getOrDefault(app, 0L) + since.of(app) + (now != since ? now.of(app) : 0);
        return new Unfinished(total, ofApp);
    }

    /** A new count; begins from now on are added to it (those counted by it as well: high, never low). */
    private void refresh() {
        long taken = System.nanoTime();
        Begun fresh = new Begun();
        current = fresh;
        Map<String, Long> byApplication = jdbc.sync("countUnfinished", null, c -> {
            Map<String, Long> counts = new HashMap<>();
            try (PreparedStatement ps = c.prepareStatement(Sql.COUNT_UNFINISHED); ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    counts.put(rs.getString(1), rs.getLong(2));
                }
            }
            return counts;
        });
        long total = byApplication.values().stream().mapToLong(Long::longValue).sum();
        snapshot = new Snapshot(taken, total, byApplication, fresh);
    }
}
