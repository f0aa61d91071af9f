package io.cohort.rm.branch;

import io.cohort.client.TcException;
import io.cohort.client.TcUnavailableException;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.rm.Resource;
import io.cohort.rm.RmConfig;
import io.cohort.rm.undo.UndoLogStatus;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
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
 *   <li>asks any reachable TC replica for the outcome. A decided outcome is followed (rollback:
 *       undone now; commit: the branch counts as pre-committed and waits for DoCommit); an
 *       undecided one (BEGIN, PRE_COMMITTING) or one waiting for a person restarts the timer;</li>
 *   <li>only when no TC answers does it decide alone: roll back if the branch never saw PreCommit,
 *       commit if it did — recording what and why in the decision table — and tells the TC as soon
 *       as one answers (ReportBranch with decided_by_rm). The TC reconciles: a split is marked
 *       heuristic and repaired by REDO while the global locks still hold.</li>
 * </ol>
 * Two-phase branches are never looked at: under 2PC an RM never decides alone.
 */
public final class TerminationMonitor implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TerminationMonitor.class);
    private static final int BATCH = 200;

    private record Quiet(String xid, long branchId, int status) {
    }

    private final Supplier<List<Resource>> resources;
    private final ThreePhaseBranches branches;
    private final RmConfig config;
    private final Clock clock;
    private final ScheduledExecutorService scheduler;
    private final Map<String, Long> schemaWarnedAt = new ConcurrentHashMap<>();
    private final Map<String, Long> nextReportAt = new ConcurrentHashMap<>();

    public TerminationMonitor(Supplier<List<Resource>> resources, ThreePhaseBranches branches, RmConfig config,
                              Clock clock) {
        this.resources = resources;
        this.branches = branches;
        this.config = config;
        this.clock = clock;
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "cohort-rm-3pc-termination");
            t.setDaemon(true);
            return t;
        });
        long every = config.terminationCheckInterval().toMillis();
        scheduler.scheduleWithFixedDelay(this::checkAll, every, every, TimeUnit.MILLISECONDS);
        scheduler.scheduleWithFixedDelay(this::deleteOldDecisions, 1, 1, TimeUnit.HOURS);
    }

    /** One pass over every resource (the scheduler runs it; tests and shutdown may too). */
    public synchronized void checkAll() {
        for (Resource r : resources.get()) {
            try {
                reportDecisions(r);
                terminateQuiet(r);
            } catch (SQLException e) {
                warnSchema(r, e);
            } catch (RuntimeException e) {
                log.warn("Three-phase termination pass on {} failed, will try again: {}", r.resourceId(), e.toString());
            }
        }
    }

    // ---- decisions the TC has not heard of ----

    private void reportDecisions(Resource r) throws SQLException {
        if (clock.millis() < nextReportAt.getOrDefault(r.resourceId(), 0L)) {
            return;
        }
        List<String[]> pending = new ArrayList<>();
        try (Connection c = r.target().getConnection();
             PreparedStatement ps = c.prepareStatement(r.dialect().selectUnreportedDecisions(config.decisionTable()));
             ResultSet rs = ps.executeQuery()) {
            while (rs.next() && pending.size() < BATCH) {
                pending.add(new String[] {rs.getString(1), Long.toString(rs.getLong(2)), rs.getString(3), rs.getString(4)});
            }
        }
        for (String[] d : pending) {
            if (!report(r, d[0], Long.parseLong(d[1]), d[2].equals("COMMITTED"), d[3])) {
                // No TC now. Try again later, not every check: failed calls would open the TC client's
                // circuit breaker, and the application's own calls would be refused for a while after the TC is back.
                nextReportAt.put(r.resourceId(), clock.millis() + Math.min(5_000, config.terminationTimeout().toMillis()));
                return;
            }
        }
    }

    /** Tells the TC; false when no TC answered. */
    private boolean report(Resource r, String xid, long branchId, boolean committed, String why) {
        GlobalStatus global;
        try {
            global = r.coordinator().reportDecision(xid, branchId, committed ? BranchStatusCode.BRANCH_PHASE2_COMMITTED
                    : BranchStatusCode.BRANCH_PHASE2_ROLLBACKED, why);
        } catch (TcUnavailableException e) {
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

    private void terminateQuiet(Resource r) throws SQLException {
        Map<String, List<Quiet>> byXid = new LinkedHashMap<>();
        try (Connection c = r.target().getConnection();
             PreparedStatement ps = c.prepareStatement(r.dialect().selectQuietThreePhase(config.undoTable()))) {
            ps.setLong(1, config.terminationTimeout().toMillis());
            ps.setInt(2, BATCH);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    Quiet q = new Quiet(rs.getString(1), rs.getLong(2), rs.getInt(3));
                    byXid.computeIfAbsent(q.xid, x -> new ArrayList<>()).add(q);
                }
            }
        }
        for (Map.Entry<String, List<Quiet>> e : byXid.entrySet()) {
            // Several branches of one transaction on this database: undo the later ones first.
            List<Quiet> quiet = e.getValue();
            quiet.sort((a, b) -> Long.compare(b.branchId, a.branchId));
            terminate(r, e.getKey(), quiet);
        }
    }

    private void terminate(Resource r, String xid, List<Quiet> quiet) {
        GlobalStatus global;
        String silence = "no word from the TC for " + config.terminationTimeout().toMillis() + " ms";
        try {
            global = GlobalStatus.fromWire(r.coordinator().status(xid).getStatus());
        } catch (TcUnavailableException e) {
            String why = silence + " and no TC replica answered (" + firstLine(e.getMessage()) + ")";
            for (Quiet q : quiet) {
                decideAlone(r, q, why);
            }
            return;
        } catch (TcException e) {
            if (e.errorCode() == ErrorCode.UNKNOWN_XID) {
                // The TC answered and has no such transaction (never had it, or ended and forgot it).
                for (Quiet q : quiet) {
                    followTc(r, q, q.status == UndoLogStatus.PRE_COMMITTED, "the TC does not know the transaction");
                }
            } else {
                log.warn("Asking the TC about {} failed ({}); branches keep waiting", xid, e.getMessage());
                quiet.forEach(q -> branches.touch(r, q.xid, q.branchId));
            }
            return;
        }
        boolean finalCommit = global == GlobalStatus.COMMITTED;
        boolean rollback = global.isRollbackDecided() && global != GlobalStatus.ROLLBACK_FAILED;
        for (Quiet q : quiet) {
            if (rollback || finalCommit) {
                followTc(r, q, finalCommit, "the TC says " + global);
            } else if (global.isCommitDecided()) {
                if (q.status == UndoLogStatus.THREE_PHASE) {
                    branches.learnCommit(r, q.xid, q.branchId); // DoCommit will come; alone, it would commit now
                } else {
                    branches.touch(r, q.xid, q.branchId);
                }
            } else {
                branches.touch(r, q.xid, q.branchId); // BEGIN, PRE_COMMITTING, or waiting for a person
            }
        }
    }

    /** A TC answered with an outcome: do what it would have asked for. */
    private void followTc(Resource r, Quiet q, boolean commit, String why) {
        switch (q.status) {
            case UndoLogStatus.THREE_PHASE, UndoLogStatus.PRE_COMMITTED -> {
                if (commit) {
                    branches.commitDecidedAlone(r, q.xid, q.branchId); // deletes the undo log
                } else {
                    ThreePhaseBranches.Answer a = branches.rollback(r, q.xid, q.branchId);
                    if (a.status() != BranchStatus.PHASE2_ROLLBACKED) {
                        log.error("Branch {} of {}: {}, but it could not be rolled back: {}", q.branchId, q.xid, why, a.reason());
                        branches.touch(r, q.xid, q.branchId);
                    }
                }
            }
            case UndoLogStatus.ROLLED_BACK_ALONE, UndoLogStatus.COMMITTED_ALONE -> {
                if (commit == (q.status == UndoLogStatus.COMMITTED_ALONE)) {
                    branches.settle(r, q.xid, q.branchId);
                } else {
                    log.error("Branch {} of {} was {} by this RM on its own but {}; waiting for the TC's repair or a person",
                            q.branchId, q.xid, q.status == UndoLogStatus.COMMITTED_ALONE ? "committed" : "rolled back", why);
                    branches.touch(r, q.xid, q.branchId);
                }
            }
            default -> branches.touch(r, q.xid, q.branchId);
        }
    }

    /** No TC answered: roll back what never saw PreCommit, commit what did, then tell the TC if it is back. */
    private void decideAlone(Resource r, Quiet q, String why) {
        boolean done;
        switch (q.status) {
            case UndoLogStatus.THREE_PHASE -> done = branches.rollBackAlone(r, q.xid, q.branchId,
                    why + "; it never saw PreCommit, so it rolled back");
            case UndoLogStatus.PRE_COMMITTED -> done = branches.commitAlone(r, q.xid, q.branchId,
                    why + "; it had seen PreCommit, so it committed");
            default -> {
                branches.touch(r, q.xid, q.branchId); // finished alone already; reported when a TC answers
                return;
            }
        }
        if (done) {
            report(r, q.xid, q.branchId, q.status == UndoLogStatus.PRE_COMMITTED, why);
        }
    }

    /** Deletes reported decisions older than {@code cohort.rm.undo.marker-retention}. */
    public void deleteOldDecisions() {
        Timestamp cutoff = new Timestamp(clock.millis() - config.markerRetention().toMillis());
        for (Resource r : resources.get()) {
            try (Connection c = r.target().getConnection();
                 PreparedStatement ps = c.prepareStatement(r.dialect().deleteOldDecisions(config.decisionTable()))) {
                ps.setTimestamp(1, cutoff);
                ps.executeUpdate();
            } catch (SQLException e) {
                warnSchema(r, e);
            }
        }
    }

    private void warnSchema(Resource r, SQLException e) {
        long now = clock.millis();
        Long last = schemaWarnedAt.get(r.resourceId());
        if (last == null || now - last > 600_000) {
            schemaWarnedAt.put(r.resourceId(), now);
            log.warn("Three-phase termination cannot read {} ({}); if three-phase commit is used, apply "
                    + "sql/rm/postgresql.sql (undo_log.updated, {}) to this database", r.resourceId(), e.getMessage(),
                    config.decisionTable());
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
