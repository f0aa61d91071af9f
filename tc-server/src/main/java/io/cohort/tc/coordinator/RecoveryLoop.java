package io.cohort.tc.coordinator;

import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.store.TransactionStore;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The TC's background work, on one schedule: rolls back transactions whose timeout passed in BEGIN,
 * resumes phase 2 of every decided transaction that is not being driven (after a restart that is
 * all of them; otherwise those whose retry backoff elapsed), and purges ended transactions past
 * the retention period.
 */
public final class RecoveryLoop implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RecoveryLoop.class);

    private final TransactionStore store;
    private final Phase2Driver driver;
    private final Clock clock;
    private final Duration retention;
    private final ScheduledFuture<?> task;
    private long lastPurgeMs;

    public RecoveryLoop(TransactionStore store, Phase2Driver driver, Clock clock, Duration interval,
                        Duration retention, ScheduledExecutorService scheduler) {
        this.store = store;
        this.driver = driver;
        this.clock = clock;
        this.retention = retention;
        this.task = scheduler.scheduleWithFixedDelay(this::runSafely, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void runSafely() {
        try {
            runOnce();
        } catch (RuntimeException e) {
            log.warn("Recovery pass failed ({}); trying again next interval", e.toString());
        }
    }

    /** One pass; public so tests can drive it deterministically. */
    public void runOnce() {
        long now = clock.millis();
        List<GlobalTransaction> mine = store.claimUnended(driver.reachableResources());
        driver.forgetAllBut(mine);
        for (GlobalTransaction tx : mine) {
            if (tx.status() == GlobalStatus.BEGIN) {
                if (now > tx.deadlineMs()) {
                    driver.timeOut(tx);
                }
            } else if (driver.isDue(tx.xid())) {
                driver.drive(tx.xid());
            }
        }
        if (now - lastPurgeMs > 60_000) {
            lastPurgeMs = now;
            store.purgeEndedBefore(now - retention.toMillis());
        }
    }

    @Override
    public void close() {
        task.cancel(false);
    }
}
