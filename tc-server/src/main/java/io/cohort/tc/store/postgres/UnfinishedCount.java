package io.cohort.tc.store.postgres;

import io.cohort.tc.store.TransactionStore.Unfinished;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The count of unfinished transactions for the caps at begin, without a query per begin: the
 * database's count (all applications in one statement) is taken again, in the background, when it
 * is older than {@code maxAge}, and this replica's begins since it was taken are added to it. The
 * answer errs high (transactions that finished since the count still count) except for the begins of
 * other replicas since the count: a cap may be passed by what they begin within {@code maxAge} (or
 * while the database does not answer). The coordinator asks for an exact count before it refuses a
 * begin, so a cap never refuses on a stale count. Only the first count and an exact one are read by
 * the caller: a begin under the caps reads nothing (see {@link #countWithoutReading}).
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
    private final AtomicBoolean refreshingInBackground = new AtomicBoolean();
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

    /** The count, read now when it must be {@code exact} or none was taken yet. */
    Unfinished count(String applicationId, boolean exact) {
        if (!exact) {
            Optional<Unfinished> recent = countWithoutReading(applicationId);
            if (recent.isPresent()) {
                return recent.get();
            }
        }
        refreshing.lock();
        try {
            if (exact || snapshot == null) { // else another thread took the first count meanwhile
                long taken = System.nanoTime();
                Begun fresh = startCount();
                taken(taken, jdbc.sync("countUnfinished", null, UnfinishedCount::read), fresh);
            }
        } finally {
            refreshing.unlock();
        }
        return answer(snapshot, applicationId == null ? "" : applicationId);
    }

    /** The count without a read on the caller's thread (see {@link #count}); empty before the first count. */
    Optional<Unfinished> countWithoutReading(String applicationId) {
        Snapshot s = snapshot;
        if (s == null) {
            return Optional.empty();
        }
        refreshIfOld(s);
        return Optional.of(answer(s, applicationId == null ? "" : applicationId));
    }

    /** One count at a time, on the store's JDBC threads; until it is in, callers go on with {@code s}. */
    private void refreshIfOld(Snapshot s) {
        if (System.nanoTime() - s.takenNanos <= maxAgeNanos || !refreshingInBackground.compareAndSet(false, true)) {
            return;
        }
        long taken = System.nanoTime();
        Begun fresh = startCount();
        jdbc.async("countUnfinished", null, JdbcRunner.NO_BRANCH, UnfinishedCount::read).whenComplete((counts, failure) -> {
            if (counts != null) {
                refreshing.lock();
                try {
                    taken(taken, counts, fresh);
                } finally {
                    refreshing.unlock();
                }
            }
            refreshingInBackground.set(false); // a failed count is tried again at the next begin
        });
    }

    private Unfinished answer(Snapshot s, String app) {
        Begun since = s.begunSince;
        Begun now = current;
        long total = s.total + since.total.sum() + (now != since ? now.total.sum() : 0);
        long ofApp = s.byApplication.getOrDefault(app, 0L) + since.of(app) + (now != since ? now.of(app) : 0);
        return new Unfinished(total, ofApp);
    }

    /** Begins from now on are added to the count about to be read (those it counts as well: high, never low). */
    private Begun startCount() {
        Begun fresh = new Begun();
        current = fresh;
        return fresh;
    }

    private static Map<String, Long> read(Connection c) throws SQLException {
        Map<String, Long> byApplication = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement(Sql.COUNT_UNFINISHED); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                byApplication.put(rs.getString(1), rs.getLong(2));
            }
        }
        return byApplication;
    }

    /** The count read from {@code taken} on, with this replica's begins since in {@code fresh}. */
    private void taken(long taken, Map<String, Long> byApplication, Begun fresh) {
        long total = byApplication.values().stream().mapToLong(Long::longValue).sum();
        snapshot = new Snapshot(taken, total, byApplication, fresh);
    }
}
