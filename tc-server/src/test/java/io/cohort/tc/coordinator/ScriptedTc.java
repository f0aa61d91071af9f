package io.cohort.tc.coordinator;

import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.ManualClock;
import io.cohort.tc.store.TransactionStore;
import io.cohort.tc.support.TcObservations;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;

/**
 * The real coordinator, phase-2 driver, recovery loop and lock waits on an embedded store, reaching
 * scripted RMs and running on a manual clock and scheduler: how the deterministic coordinator tests
 * wire a TC.
 */
record ScriptedTc(Phase2Driver driver, RecoveryLoop recovery, Coordinator coordinator) {

    static final String TC = "10.0.0.1:8091";
    static final Duration RECOVERY_INTERVAL = Duration.ofMillis(10);
    static final Duration INITIAL_BACKOFF = Duration.ofMillis(100);
    static final Duration MAX_BACKOFF = Duration.ofMillis(800);
    static final int MAX_ATTEMPTS = 6;
    static final Duration VOTE_TIMEOUT = Duration.ofSeconds(1);
    static final Duration TX_TIMEOUT = Duration.ofSeconds(30);

    static ScriptedTc wire(TransactionStore store, ScriptedChannel rms, SimpleMeterRegistry registry,
                           ManualClock clock, ManualScheduler time, Coordinator.Limits limits) {
        TcMetrics metrics = new TcMetrics(registry, store, rms);
        LockWaits lockWaits = new LockWaits(new LockWaits.Settings(100, Duration.ofMinutes(5), Duration.ofHours(1)),
                time, clock, clock::nanos,
                holder -> store.findGlobal(holder).map(tx -> tx.status().isRollbackDecided()).orElse(false), metrics);
        Phase2Driver driver = new Phase2Driver(store, rms, metrics, clock, INITIAL_BACKOFF, MAX_BACKOFF, MAX_ATTEMPTS,
                VOTE_TIMEOUT, TcObservations.noop(), lockWaits, time);
        Coordinator coordinator = new Coordinator(store, driver, rms, new IdGenerator(clock, TC), metrics, clock, TC,
                TX_TIMEOUT, Duration.ofHours(1), TransactionProtocol.TWO_PHASE, 1000, limits, lockWaits);
        RecoveryLoop recovery = new RecoveryLoop(store, driver, clock, RECOVERY_INTERVAL, Duration.ofDays(7), time);
        return new ScriptedTc(driver, recovery, coordinator);
    }
}
