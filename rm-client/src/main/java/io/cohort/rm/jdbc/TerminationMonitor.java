package io.cohort.rm.jdbc;

import io.cohort.client.TcException;
import io.cohort.client.TcStoreUnavailableException;
import io.cohort.client.TcUnavailableException;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.RmConfig;
import io.cohort.rm.jdbc.UndoLogTable.Quiet;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RM side of three-phase commit's non-blocking termination. Every
 * {@code cohort.rm.three-phase.check-interval} it looks, in each database, for three-phase branches
 * that heard nothing from the TC for {@code cohort.rm.three-phase.termination-timeout} (by the
 * database's clock, from {@code undo_log.updated}, so the timer survives an RM restart), and:
 * <ol>
 *   <li>asks the TC replicas about each quiet transaction, all of them at once, each question
 *       answered or given up within {@code cohort.rm.three-phase.probe-timeout} — not the
 *       application's call timeout and retries (see {@link io.cohort.client.TcProbe}). A decided
 *       outcome is followed (rollback:
 *       undone now; commit: the branch counts as pre-committed and waits for DoCommit); an
 *       undecided one (BEGIN, PRE_COMMITTING) or one waiting for a person restarts the timer;</li>
 *   <li>only when no replica answers does it decide alone — and then for every quiet branch, in the
 *       same pass, not one question per branch: roll back if the branch never saw PreCommit, commit if
 *       it did, recording what and why in the decision table in the same local transaction — and tells
 *       the TC as soon as one answers (ReportBranch with
 *       decided_by_rm). The TC reconciles: a split is marked heuristic and repaired by REDO while the
 *       global locks still hold.</li>
 * </ol>
 * Two-phase branches are never looked at: under 2PC an RM never decides alone.
 */
final class TerminationMonitor implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TerminationMonitor.class);
    private static final int BATCH = 200;
    /** Reads of the quiet branches per resource and pass: BATCH x this many branches at most. */
    private static final int MAX_ROUNDS = 50;

    private final Supplier<List<Resource>> resources;
    private final BranchCoordinator coordinator;
    private final LocalBranches branches;
    private final RmConfig config;
    private final Clock clock;
    private final ScheduledExecutorService scheduler;
    private final Map<String, Long> schemaWarnedAt = new ConcurrentHashMap<>();
    /** No schema warning this soon after start: the RM wraps a DataSource before its schema scripts run. */
    private static final long SCHEMA_GRACE_MS = 60_000;
    private final long startedAt;
    private final Map<String, Long> nextReportAt = new ConcurrentHashMap<>();

    TerminationMonitor(Supplier<List<Resource>> resources, BranchCoordinator coordinator,
                       LocalBranches branches, RmConfig config, Clock clock) {
        this.resources = resources;
        this.coordinator = coordinator;
        this.branches = branches;
        this.config = config;
        this.clock = clock;
        this.startedAt = clock.millis();
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "cohort-rm-3pc-termination");
            t.setDaemon(true);
            return t;
        });
        long every = config.terminationCheckInterval().toMillis();
        scheduler.scheduleWithFixedDelay(this::checkAll, every, every, TimeUnit.MILLISECONDS);
        scheduler.scheduleWithFixedDelay(this::deleteOldDecisions, 1, 1, TimeUnit.HOURS);
    }

    /**
     * One pass over every resource (the scheduler runs it; tests and shutdown may too). Its questions
     * to the TC go through one {@link BranchCoordinator.StatusProbe}: every TC replica asked at once,
     * each question answered within {@code cohort.rm.three-phase.probe-timeout}. The first question
     * nobody answers settles "no TC answers" for the whole pass, and every quiet branch left, on every
     * resource, is decided alone in the same pass. Quiet branches are read again until none is left,
     * so one that fell quiet while a question waited is decided too: each is decided within
     * termination-timeout + probe timeout + one check interval (plus the pass's own database work),
     * however many there are.
     */
    synchronized void checkAll() {
        List<Resource> all = resources.get();
        for (Resource r : all) {
            if (!branches.loaded(r)) {
                loadBranches(r);
            }
        }
        if (all.stream().noneMatch(this::hasWork)) {
            return;
        }
        try (BranchCoordinator.StatusProbe tc = coordinator.openStatusProbe(config.terminationProbeTimeout())) {
            String noTc = null; // why no TC answers, once a question went unanswered in this pass
            for (Resource r : all) {
                try {
                    noTc = terminateQuiet(r, tc, noTc);
                } catch (SQLException e) {
                    warnSchema(r, e);
                } catch (RuntimeException e) {
                    log.warn("Three-phase termination pass on {} failed, will try again: {}", r.resourceId(), e.toString());
                }
            }
            for (Resource r : all) {
                try {
                    noTc = reportDecisions(r, tc, noTc);
                } catch (SQLException e) {
                    warnSchema(r, e);
                } catch (RuntimeException e) {
                    log.warn("Reporting three-phase decisions of {} failed, will try again: {}", r.resourceId(), e.toString());
                }
            }
        }
    }

    /** Whether a branch of {@code r} is quiet or a decision is due to be reported. */
    private boolean hasWork(Resource r) {
        try {
            return !selectQuiet(r, 1).isEmpty()
                    || clock.millis() >= nextReportAt.getOrDefault(r.resourceId(), 0L) && !selectUnreported(r, 1).isEmpty();
        } catch (SQLException e) {
            warnSchema(r, e);
            return false;
        }
    }

    /**
     * How long to wait before reporting again after no TC answered: not every check, since each try
     * costs a probe (and, when a TC answers the probe but not the report, calls that would open the TC
     * client's circuit breaker and refuse the application's own calls for a while after the TC is back).
     */
    private long reportRetryMillis() {
        return Math.min(5_000, config.terminationTimeout().toMillis());
    }

    // ---- decisions the TC has not heard of ----

    /** Reports the decisions the TC has not heard of, once a question shows a TC answers; returns {@code noTc} as known after. */
    private String reportDecisions(Resource r, BranchCoordinator.StatusProbe tc, String noTc) throws SQLException {
        if (clock.millis() < nextReportAt.getOrDefault(r.resourceId(), 0L)) {
            return noTc;
        }
        List<UndoLogTable.Decision> pending = selectUnreported(r, BATCH);
        if (pending.isEmpty()) {
            return noTc;
        }
        if (noTc == null) {
            noTc = whyNoAnswer(tc, pending.get(0).xid());
        }
        if (noTc != null) {
            nextReportAt.put(r.resourceId(), clock.millis() + reportRetryMillis());
            return noTc;
        }
        for (UndoLogTable.Decision d : pending) {
            if (!report(r, d.xid(), d.branchId(), d.committed(), d.reason())) {
                nextReportAt.put(r.resourceId(), clock.millis() + reportRetryMillis());
                return noTc;
            }
        }
        return noTc;
    }

    /** Null when a TC answers a question about {@code xid} (with its status or an error of its own), else why none did. */
    private static String whyNoAnswer(BranchCoordinator.StatusProbe tc, String xid) {
        try {
            tc.status(xid);
            return null;
        } catch (TcUnavailableException | TcStoreUnavailableException e) { // no TC can decide or record
            return firstLine(e.getMessage());
        } catch (TcException e) {
            return null;
        }
    }

    private List<UndoLogTable.Decision> selectUnreported(Resource r, int limit) throws SQLException {
        try (Connection c = r.target().getConnection()) {
            return r.undoLog().selectUnreported(c, limit);
        }
    }

    /** Tells the TC; false when no TC answered. */
    private boolean report(Resource r, String xid, long branchId, boolean committed, String why) {
        GlobalStatus global;
        try {
            global = coordinator.reportDecision(xid, branchId, committed ? BranchStatusCode.BRANCH_PHASE2_COMMITTED
                    : BranchStatusCode.BRANCH_PHASE2_ROLLBACKED, why);
        } catch (TcUnavailableException | TcStoreUnavailableException e) { // no TC can decide or record
            return false;
        } catch (TcException e) {
            if (e.errorCode() == ErrorCode.UNKNOWN_XID || e.errorCode() == ErrorCode.UNKNOWN_BRANCH) {
                log.warn("The TC no longer knows branch {} of {} that this RM {} on its own; nothing left to reconcile",
                        branchId, xid, committed ? "committed" : "rolled back");
                branches.settle(r, xid, branchId);
            } else {
                log.warn("The TC refused the report of branch {} of {}: {}", branchId, xid, e.getMessage());
            }
            return true;
        }
        log.info("Told the TC that branch {} of {} was {} by this RM on its own; the global status is {}", branchId, xid,
                committed ? "committed" : "rolled back", global);
        boolean agrees = committed ? global.isCommitDecided() : global.isRollbackDecided();
        if (agrees) {
            branches.settle(r, xid, branchId);
        } else {
            branches.markReported(r, xid, branchId); // a split: the TC repairs it (REDO) or a person does
        }
        return true;
    }

    // ---- branches without word from the TC ----

    private List<Quiet> selectQuiet(Resource r, int limit) throws SQLException {
        try (Connection c = r.target().getConnection()) {
            return r.undoLog().selectQuiet(c, config.terminationTimeout().toMillis(), limit);
        }
    }

    /** Quiet branches grouped by transaction, the later branches of one transaction first (undone first). */
    private static Map<String, List<Quiet>> byXid(List<Quiet> quiet) {
        Map<String, List<Quiet>> byXid = new LinkedHashMap<>();
        for (Quiet q : quiet) {
            byXid.computeIfAbsent(q.xid(), x -> new ArrayList<>()).add(q);
        }
        byXid.values().forEach(l -> l.sort((a, b) -> Long.compare(b.branchId(), a.branchId())));
        return byXid;
    }

    /**
     * Asks about each quiet transaction of {@code r} while a TC answers, and decides alone from the
     * first unanswered question on; reads the quiet branches again until none is left (or none of
     * them moves). Returns {@code noTc} as known after.
     */
    private String terminateQuiet(Resource r, BranchCoordinator.StatusProbe tc, String noTc) throws SQLException {
        Set<String> seen = new HashSet<>();
        for (int round = 0; round < MAX_ROUNDS; round++) {
            boolean progress = false;
            for (Map.Entry<String, List<Quiet>> e : byXid(selectQuiet(r, BATCH)).entrySet()) {
                List<Quiet> quiet = e.getValue();
                for (Quiet q : quiet) {
                    progress |= seen.add(q.xid() + '\n' + q.branchId());
                }
                if (noTc == null) {
                    noTc = askAbout(r, tc, e.getKey(), quiet);
                } else {
                    String why = noTc(noTc);
                    quiet.forEach(q -> decideAlone(r, q, why));
                }
            }
            if (!progress) {
                break; // nothing quiet left, or only branches that could not move (logged); the next pass tries again
            }
        }
        return noTc;
    }

    private String noTc(String why) {
        return "no word from the TC for " + config.terminationTimeout().toMillis() + " ms and " + why;
    }

    /** Asks the TC about one transaction's quiet branches and follows it; null when a TC answered, else why none did. */
    private String askAbout(Resource r, BranchCoordinator.StatusProbe tc, String xid, List<Quiet> quiet) {
        GlobalStatus global;
        try {
            global = GlobalStatus.fromWire(tc.status(xid).getStatus());
        } catch (TcUnavailableException | TcStoreUnavailableException e) { // no TC can decide or record
            String none = firstLine(e.getMessage());
            quiet.forEach(q -> decideAlone(r, q, noTc(none)));
            return none;
        } catch (TcException e) {
            if (e.errorCode() == ErrorCode.UNKNOWN_XID) {
                // The TC answered and has no such transaction (never had it, or ended and forgot it).
                for (Quiet q : quiet) {
                    followTc(r, q, q.status() == UndoLogStatus.PRE_COMMITTED, "the TC does not know the transaction");
                }
            } else {
                log.warn("Asking the TC about {} failed ({}); branches keep waiting", xid, e.getMessage());
                quiet.forEach(q -> branches.touch(r, q.xid(), q.branchId()));
            }
            return null;
        }
        boolean finalCommit = global == GlobalStatus.COMMITTED;
        boolean rollback = global.isRollbackDecided() && global != GlobalStatus.ROLLBACK_FAILED;
        for (Quiet q : quiet) {
            if (rollback || finalCommit) {
                followTc(r, q, finalCommit, "the TC says " + global);
            } else if (global.isCommitDecided()) {
                if (q.status() == UndoLogStatus.THREE_PHASE) {
                    branches.learnCommit(r, q.xid(), q.branchId()); // DoCommit will come; alone, it would commit now
                } else {
                    branches.touch(r, q.xid(), q.branchId());
                }
            } else {
                branches.touch(r, q.xid(), q.branchId()); // BEGIN, PRE_COMMITTING, or waiting for a person
            }
        }
        return null;
    }

    /** A TC answered with an outcome: do what it would have asked for. */
    private void followTc(Resource r, Quiet q, boolean commit, String why) {
        switch (q.status()) {
            case THREE_PHASE, PRE_COMMITTED -> {
                if (commit) {
                    branches.commitDecidedAlone(r, q.xid(), q.branchId()); // deletes the undo log
                } else {
                    // A status answer carries no table list (only commands do): not checked here.
                    LocalBranches.Answer a = branches.rollback(r, q.xid(), q.branchId(), null);
                    if (a.status() != BranchStatus.PHASE2_ROLLBACKED) {
                        log.error("Branch {} of {}: {}, but it could not be rolled back: {}", q.branchId(), q.xid(), why, a.reason());
                        branches.touch(r, q.xid(), q.branchId());
                    }
                }
            }
            case ROLLED_BACK_ALONE, COMMITTED_ALONE -> {
                if (commit == (q.status() == UndoLogStatus.COMMITTED_ALONE)) {
                    branches.settle(r, q.xid(), q.branchId());
                } else {
                    log.error("Branch {} of {} was {} by this RM on its own but {}; waiting for the TC's repair or a person",
                            q.branchId(), q.xid(), q.status() == UndoLogStatus.COMMITTED_ALONE ? "committed" : "rolled back", why);
                    branches.touch(r, q.xid(), q.branchId());
                }
            }
            default -> branches.touch(r, q.xid(), q.branchId());
        }
    }

    /**
     * No TC answered: roll back what never saw PreCommit, commit what did. The decision is recorded
     * with its reason in the same local transaction; the TC hears of it at the first pass a TC answers.
     */
    private void decideAlone(Resource r, Quiet q, String why) {
        switch (q.status()) {
            case THREE_PHASE -> branches.rollBackAlone(r, q.xid(), q.branchId(),
                    why + "; it never saw PreCommit, so it rolled back");
            case PRE_COMMITTED -> branches.commitAlone(r, q.xid(), q.branchId(),
                    why + "; it had seen PreCommit, so it committed");
            default -> branches.touch(r, q.xid(), q.branchId()); // finished alone already; reported when a TC answers
        }
    }

    /** Deletes reported decisions older than {@code cohort.rm.undo.marker-retention}. */
    void deleteOldDecisions() {
        Timestamp cutoff = new Timestamp(clock.millis() - config.markerRetention().toMillis());
        for (Resource r : resources.get()) {
            try (Connection c = r.target().getConnection()) {
                r.undoLog().deleteDecisionsBefore(c, cutoff);
            } catch (SQLException e) {
                warnSchema(r, e);
            }
        }
    }

    /**
     * Reads which branches of {@code r} were finished alone; when its undo log cannot be read yet
     * (the application's schema scripts may run after the wrapping), the next check reads again.
     */
    void loadBranches(Resource r) {
        try {
            branches.loadDecidedAlone(r);
        } catch (SQLException e) {
            warnSchema(r, e);
        }
    }

    private void warnSchema(Resource r, SQLException e) {
        long now = clock.millis();
        if (now - startedAt < SCHEMA_GRACE_MS) {
            return; // the application's schema scripts (spring.sql.init, Flyway) may still be running
        }
        Long last = schemaWarnedAt.get(r.resourceId());
        if (last == null || now - last > 600_000) {
            schemaWarnedAt.put(r.resourceId(), now);
            log.warn("Three-phase termination cannot read {} ({}); if three-phase commit is used, apply "
                    + "sql/rm/{} (undo_log.updated, {}) to this database", r.resourceId(), firstLine(e.getMessage()),
                    r.dialect().ddlScript(), config.decisionTable());
        }
    }

    private static String firstLine(String s) {
        int nl = s == null ? -1 : s.indexOf('\n');
        return s == null ? "" : nl < 0 ? s : s.substring(0, nl);
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
    }
}
