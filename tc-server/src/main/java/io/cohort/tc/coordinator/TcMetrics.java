package io.cohort.tc.coordinator;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.tc.store.TransactionStore;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The coordinator's metrics, named {@code cohort.tc.*} (Prometheus: {@code cohort_tc_*}). */
public final class TcMetrics {

    private final Counter begun;
    private final Counter refused;
    private final Counter committed;
    private final Counter rolledBack;
    private final Counter timedOut;
    private final Counter needPerson;
    private final Counter retries;
    private final Counter heuristic;
    private final Counter lockConflicts;
    private final Map<BranchAction, Timer> branchLatency = new EnumMap<>(BranchAction.class);
    private final MeterRegistry registry;
    private final Timer lockWaitsAcquired;
    private final Timer lockWaitsConflict;
    private final Counter lockWaitsRefused;

    public TcMetrics(MeterRegistry registry, TransactionStore store, BranchChannel channel) {
        this.registry = registry;
        lockWaitsAcquired = lockWaitTimer(registry, "acquired");
        lockWaitsConflict = lockWaitTimer(registry, "conflict");
        lockWaitsRefused = Counter.builder("cohort.tc.lock.waits.refused")
                .description("Branch registrations that would have waited for a row lock but found "
                        + "cohort.tc.lock-wait.max-waiters reached: answered the conflict at once").register(registry);
        begun = transactions(registry, "begun");
        refused = transactions(registry, "refused");
        committed = transactions(registry, "committed");
        rolledBack = transactions(registry, "rolled_back");
        timedOut = transactions(registry, "timed_out");
        needPerson = transactions(registry, "failed");
        heuristic = transactions(registry, "heuristic");
        lockConflicts = Counter.builder("cohort.tc.lock.conflicts")
                .description("Branch registrations refused because another transaction holds a row lock").register(registry);
        retries = Counter.builder("cohort.tc.phase2.retries")
                .description("Phase-2 rounds that had to be retried").register(registry);
        for (BranchAction action : BranchAction.values()) {
            if (action != BranchAction.UNRECOGNIZED && action != BranchAction.BRANCH_ACTION_UNSPECIFIED) {
                branchLatency.put(action, branchTimer(registry, action.name().toLowerCase(Locale.ROOT)));
            }
        }
        Gauge.builder("cohort.tc.branch.commands.pending", channel, BranchChannel::pendingCount)
                .description("Branch commands sent to RMs and not answered yet").register(registry);
        Gauge.builder("cohort.tc.branch.commands.queued.bytes", channel, BranchChannel::queuedBytes)
                .description("Bytes of branch commands waiting for their RM streams to take them (flow control)")
                .register(registry);
        for (GlobalStatus status : GlobalStatus.values()) {
            Gauge.builder("cohort.tc.transactions.current", store, s -> s.countByStatus().getOrDefault(status, 0L))
                    .tag("status", status.name())
                    .description("Global transactions in the store, by status").register(registry);
        }
    }

    private static Timer lockWaitTimer(MeterRegistry registry, String outcome) {
        return Timer.builder("cohort.tc.lock.waits").tag("outcome", outcome)
                .description("Branch registrations that waited at the TC for a row lock, by how the wait ended")
                .publishPercentiles(0.5, 0.99).register(registry);
    }

    /** The number of registrations waiting for row locks, as a gauge. */
    public void watch(LockWaits waits) {
        Gauge.builder("cohort.tc.lock.waiters", waits, LockWaits::waiting)
                .description("Branch registrations waiting at the TC for row locks now").register(registry);
    }

    void lockWaited(long ms, boolean acquired) {
        (acquired ? lockWaitsAcquired : lockWaitsConflict).record(ms, TimeUnit.MILLISECONDS);
    }

    void lockWaitRefused() {
        lockWaitsRefused.increment();
    }

    private static Counter transactions(MeterRegistry registry, String event) {
        return Counter.builder("cohort.tc.transactions").tag("event", event)
                .description("Global transactions by lifecycle event").register(registry);
    }

    private static Timer branchTimer(MeterRegistry registry, String action) {
        return Timer.builder("cohort.tc.branch.phase2").tag("action", action)
                .description("Latency of one branch command (3PC vote, PreCommit, commit, rollback, redo), sent to answered")
                .publishPercentileHistogram().publishPercentiles(0.5, 0.95, 0.99).register(registry);
    }

    void begun() {
        begun.increment();
    }

    /** A begin refused at a cap on unfinished transactions. */
    void refusedBegin() {
        refused.increment();
    }

    void ended(GlobalStatus status) {
        switch (status) {
            case COMMITTED -> committed.increment();
            case ROLLBACKED -> rolledBack.increment();
            case TIMEOUT_ROLLBACKED -> rolledBack.increment();
            case COMMIT_FAILED, ROLLBACK_FAILED -> needPerson.increment();
            default -> {
            }
        }
    }

    void timedOut() {
        timedOut.increment();
    }

    void retried() {
        retries.increment();
    }

    void heuristic() {
        heuristic.increment();
    }

    void branchPhase2(BranchAction action, long nanos) {
        branchLatency.get(action).record(nanos, TimeUnit.NANOSECONDS);
    }

    void lockConflict() {
        lockConflicts.increment();
    }

    /** Counts since start and recent phase-2 latency percentiles, for the console's live charts. */
    public record Snapshot(long atMs, Map<String, Long> transactions, long retries, long lockConflicts,
                           Map<String, Map<String, Double>> phase2LatencyMs) {
    }

    public Snapshot snapshot(long nowMs) {
        Map<String, Long> transactions = new LinkedHashMap<>();
        transactions.put("begun", (long) begun.count());
        transactions.put("committed", (long) committed.count());
        transactions.put("rolled_back", (long) rolledBack.count());
        transactions.put("timed_out", (long) timedOut.count());
        transactions.put("failed", (long) needPerson.count());
        transactions.put("heuristic", (long) heuristic.count());
        Map<String, Map<String, Double>> latency = new LinkedHashMap<>();
        branchLatency.forEach((action, timer) -> {
            Map<String, Double> percentiles = new LinkedHashMap<>();
            for (ValueAtPercentile p : timer.takeSnapshot().percentileValues()) {
                percentiles.put("p" + Math.round(p.percentile() * 100), p.value(TimeUnit.MILLISECONDS));
            }
            latency.put(action.name().toLowerCase(Locale.ROOT), percentiles);
        });
        return new Snapshot(nowMs, transactions, (long) retries.count(), (long) lockConflicts.count(), latency);
    }
}
