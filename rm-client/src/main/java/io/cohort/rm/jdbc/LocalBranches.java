package io.cohort.rm.jdbc;

import io.cohort.protocol.BranchStatus;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The branches of this RM as its databases hold them — the undo-log row and its {@code log_status}
 * ({@link UndoLogStatus}), and the three-phase decision table — and every move of them, under either
 * protocol: the TC's ROLLBACK (both), the COMMIT of a branch finished alone, CanCommit, PreCommit and
 * REDO (three-phase), and the RM's own three-phase termination (finishing a branch alone, or on an
 * outcome a TC told it). Each move locks the undo-log row first, so the TC's commands and the
 * termination never interleave on one branch.
 *
 * <p>Hazard: the DoCommit of a two-phase branch must stay a queued delete (no read), so this class
 * keeps in memory which branches were finished alone ({@link #loadDecidedAlone}, at wrap time);
 * only those take the slow path when a COMMIT arrives.
 */
final class LocalBranches {

    private static final Logger log = LoggerFactory.getLogger(LocalBranches.class);

    /** What the RM answers the TC: a branch status, why, and whether the RM reached it on its own. */
    record Answer(BranchStatus status, String reason, boolean decidedByRm) {
        static Answer of(BranchStatus status, String reason) {
            return new Answer(status, reason, false);
        }
    }

    @FunctionalInterface
    private interface Work {
        Answer run(Connection c) throws SQLException;
    }

    private final Set<String> decidedAlone = ConcurrentHashMap.newKeySet();
    private final Set<String> unloaded = ConcurrentHashMap.newKeySet();

    /**
     * Reads which branches of {@code resource} were finished alone. Until it succeeds every COMMIT
     * there is checked against the undo log, and each termination check reads again
     * ({@link #loaded}): the application's own schema scripts (spring.sql.init, Flyway) may create
     * the undo log only after the RM wrapped the DataSource.
     */
    void loadDecidedAlone(Resource resource) throws SQLException {
        unloaded.add(resource.resourceId());
        try (Connection c = resource.target().getConnection()) {
            for (UndoLogTable.Branch b : resource.undoLog().selectDecidedAlone(c)) {
                decidedAlone.add(key(resource, b.xid(), b.branchId()));
            }
        }
        unloaded.remove(resource.resourceId());
    }

    /** Whether {@link #loadDecidedAlone} succeeded for {@code resource}. */
    boolean loaded(Resource resource) {
        return !unloaded.contains(resource.resourceId());
    }

    // ---- commands from the TC ----

    /**
     * CanCommit: yes only with an undo log, not rolled back, and the rows still holding the after images.
     *
     * <p>voteDurability: the vote's write (the termination timer's stamp, and a two-phase row learning it
     * is three-phase) is committed without waiting for the database's flush where it can
     * ({@link UndoLogTable#commitWithoutFlushWait}): what a yes promises, the branch's committed data
     * and undo log, was made durable by phase 1, and the check is a read. A database crash that loses
     * the write leaves the row as before the vote: an older stamp (the RM, hearing nothing, asks a TC
     * sooner, and rolls back alone only when none answers, which is what it may do before PreCommit
     * anyway), or a two-phase row, which only ever waits for the TC. PreCommit, which the RM acts on
     * alone, waits for the flush before it is answered.
     */
    Answer vote(Resource r, String xid, long branchId) {
        List<Answer> onImages = voteOnImages(r, List.of(new UndoLogTable.Branch(xid, branchId)));
        return onImages != null ? onImages.get(0) : stepAlone(r, xid, branchId, BranchStatus.VOTED_NO, this::voteOn, true);
    }

    /**
     * CanCommit for several branches of one resource, answered as {@link #vote} answers each, in one
     * local transaction ({@link #voteOnImages}). A branch that votes no for being dirty says no for its
     * own transaction only: nothing of it is written. If the batch holds a branch whose row is in any
     * other state, or fails on a database error, each branch is voted on alone, so one branch cannot
     * cost the others their yes.
     */
    List<Answer> voteAll(Resource r, List<UndoLogTable.Branch> batch) {
        List<Answer> onImages = voteOnImages(r, batch);
        return onImages != null ? onImages : eachAlone(batch, b -> vote(r, b.xid(), b.branchId()));
    }

    /**
     * The CanCommit of branches whose undo-log rows hold images (two- or three-phase, or pre-committed:
     * the usual case), in one local transaction: one statement stamps and locks the rows and returns
     * their images ({@link UndoLogTable#stampVotes}), each branch's rows are checked against its after
     * images, one commit without waiting for the flush (voteDurability). A dirty branch votes no and
     * its stamp is taken back: the transaction is rolled back and only the clean branches stamped
     * again. Null, with nothing written, when a branch's row is in any other state (or missing) or the
     * database fails: the caller looks at the branches one at a time, under lock ({@link #voteOn}).
     */
    private static List<Answer> voteOnImages(Resource r, List<UndoLogTable.Branch> batch) {
        try {
            return inLocalTransaction(r, c -> {
                Map<UndoLogTable.Branch, byte[]> images = r.undoLog().stampVotes(c, xidsOf(batch), idsOf(batch));
                if (images.size() != batch.size()) {
                    c.rollback();
                    return null;
                }
                List<Answer> answers = new ArrayList<>(batch.size());
                List<UndoLogTable.Branch> clean = new ArrayList<>(batch.size());
                for (UndoLogTable.Branch b : batch) {
                    String dirty = r.images().verifyAfterImages(c, images.get(b));
                    if (dirty == null) {
                        clean.add(b);
                        answers.add(Answer.of(BranchStatus.VOTED_YES, ""));
                    } else {
                        log.error("Branch {} of {} votes no: {}", b.branchId(), b.xid(), dirty);
                        answers.add(Answer.of(BranchStatus.VOTED_NO, "data changed outside the global transaction: " + dirty));
                    }
                }
                if (clean.size() < batch.size()) {
                    c.rollback();
                    if (clean.isEmpty()) {
                        return answers;
                    }
                    if (r.undoLog().stampVotes(c, xidsOf(clean), idsOf(clean)).size() != clean.size()) {
                        c.rollback(); // a row changed state meanwhile: look at each under lock
                        return null;
                    }
                }
                r.undoLog().commitWithoutFlushWait(c);
                return answers;
            });
        } catch (SQLException | RuntimeException e) {
            return batchFailed("CanCommit", r, batch, e);
        }
    }

    /** What a CanCommit comes to for a branch whose undo-log row is {@code row} (null: none). */
    private Step voteOn(Resource r, Connection c, String xid, long branchId, UndoLogTable.Row row) throws SQLException {
        if (row == null) {
            return Step.answer(Answer.of(BranchStatus.VOTED_NO, "no undo log: phase 1 of this branch never committed locally"));
        }
        return switch (row.status()) {
            case ROLLBACK_MARKER -> Step.answer(Answer.of(BranchStatus.VOTED_NO, "the branch was rolled back already"));
            case ROLLED_BACK_ALONE -> Step.answer(Answer.of(BranchStatus.VOTED_NO, "rolled back by this RM on its own: "
                    + r.undoLog().decisionReason(c, xid, branchId)));
            case COMMITTED_ALONE -> Step.answer(Answer.of(BranchStatus.VOTED_YES, "committed by this RM on its own"));
            default -> {
                String dirty = r.images().verifyAfterImages(c, row.rollbackInfo());
                if (dirty != null) {
                    log.error("Branch {} of {} votes no: {}", branchId, xid, dirty);
                    yield Step.answer(Answer.of(BranchStatus.VOTED_NO, "data changed outside the global transaction: " + dirty));
                }
                // A branch registered as two-phase that gets a CanCommit learns it is three-phase here.
                yield new Step(Answer.of(BranchStatus.VOTED_YES, ""),
                        row.status() == UndoLogStatus.TWO_PHASE ? UndoLogStatus.THREE_PHASE : row.status());
            }
        };
    }

    /** PreCommit: records the branch as pre-committed, durably, before answering. */
    Answer preCommit(Resource r, String xid, long branchId) {
        List<Answer> onImages = preCommitOnImages(r, List.of(new UndoLogTable.Branch(xid, branchId)));
        return onImages != null ? onImages.get(0)
                : stepAlone(r, xid, branchId, BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE, this::preCommitOn, false);
    }

    /**
     * PreCommit for several branches of one resource, answered as {@link #preCommit} answers each
     * ({@link #preCommitOnImages}). A batch holding a branch whose row is in any other state, or a
     * database error, falls back to one branch at a time.
     */
    List<Answer> preCommitAll(Resource r, List<UndoLogTable.Branch> batch) {
        List<Answer> onImages = preCommitOnImages(r, batch);
        return onImages != null ? onImages : eachAlone(batch, b -> preCommit(r, b.xid(), b.branchId()));
    }

    /** The answers of a batch's branches taken one at a time, in batch order. */
    private static List<Answer> eachAlone(List<UndoLogTable.Branch> batch, Function<UndoLogTable.Branch, Answer> alone) {
        List<Answer> answers = new ArrayList<>(batch.size());
        for (UndoLogTable.Branch b : batch) {
            answers.add(alone.apply(b));
        }
        return answers;
    }

    /**
     * The PreCommit of branches whose undo-log rows hold images (the usual case): one autocommitted
     * statement moves them all to PRE_COMMITTED ({@link UndoLogTable#preCommitAll}), durable before it
     * returns, as every PreCommit is before its answer. Null when not every branch's row moved (in any
     * other state, or missing) or the database fails: the caller looks at the branches one at a time,
     * under lock ({@link #preCommitOn}); the rows that moved stay pre-committed, which a PreCommit
     * again leaves so.
     */
    private static List<Answer> preCommitOnImages(Resource r, List<UndoLogTable.Branch> batch) {
        try (Connection c = r.target().getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(true);
            try {
                if (r.undoLog().preCommitAll(c, xidsOf(batch), idsOf(batch)) != batch.size()) {
                    return null;
                }
            } finally {
                c.setAutoCommit(autoCommit);
            }
            return Collections.nCopies(batch.size(), Answer.of(BranchStatus.PRE_COMMITTED, ""));
        } catch (SQLException e) {
            return batchFailed("PreCommit", r, batch, e);
        }
    }

    /** Logs that {@code command} failed for the whole batch and answers null: the caller takes each branch alone. */
    private static List<Answer> batchFailed(String command, Resource r, List<UndoLogTable.Branch> batch, Exception e) {
        log.warn("{} of {} branches on {} (first: branch {} of {}) failed, each is taken alone: {}", command,
                batch.size(), r.resourceId(), batch.get(0).branchId(), batch.get(0).xid(), e.toString());
        return null;
    }

    private static String[] xidsOf(List<UndoLogTable.Branch> batch) {
        String[] xids = new String[batch.size()];
        for (int i = 0; i < xids.length; i++) {
            xids[i] = batch.get(i).xid();
        }
        return xids;
    }

    private static long[] idsOf(List<UndoLogTable.Branch> batch) {
        long[] ids = new long[batch.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = batch.get(i).branchId();
        }
        return ids;
    }

    /** What a PreCommit comes to for a branch whose undo-log row is {@code row} (null: none). */
    private Step preCommitOn(Resource r, Connection c, String xid, long branchId, UndoLogTable.Row row)
            throws SQLException {
        if (row == null) {
            return Step.answer(Answer.of(BranchStatus.PHASE2_COMMITTED, "no undo log left: already committed"));
        }
        return switch (row.status()) {
            case ROLLBACK_MARKER -> Step.answer(Answer.of(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE,
                    "the branch was rolled back on the TC's order; it cannot be pre-committed"));
            case ROLLED_BACK_ALONE -> Step.answer(rolledBackAlone(r, c, xid, branchId));
            case COMMITTED_ALONE -> Step.answer(committedAlone(r, c, xid, branchId, false));
            case TWO_PHASE, THREE_PHASE, PRE_COMMITTED ->
                    new Step(Answer.of(BranchStatus.PRE_COMMITTED, ""), UndoLogStatus.PRE_COMMITTED);
        };
    }

    /** What a command comes to for one branch: the answer, and the status its undo-log row moves to (null: none). */
    private record Step(Answer answer, UndoLogStatus moveTo) {
        static Step answer(Answer answer) {
            return new Step(answer, null);
        }
    }

    @FunctionalInterface
    private interface StepRule {
        Step decide(Resource r, Connection c, String xid, long branchId, UndoLogTable.Row row) throws SQLException;
    }

    /**
     * {@code rule} for one branch in a local transaction of its own: its undo-log row locked, then
     * moved as the rule says; with {@code withoutFlushWait} a move commits without waiting for the
     * flush (see voteDurability).
     */
    private Answer stepAlone(Resource r, String xid, long branchId, BranchStatus onError, StepRule rule,
                             boolean withoutFlushWait) {
        return inTransaction(r, xid, branchId, onError, c -> {
            UndoLogTable.Row row = r.undoLog().lock(c, xid, branchId);
            Step step = rule.decide(r, c, xid, branchId, row);
            if (step.moveTo() != null) {
                r.undoLog().move(c, xid, branchId, row.status(), step.moveTo());
                if (withoutFlushWait) {
                    r.undoLog().commitWithoutFlushWait(c);
                }
            }
            return step.answer();
        });
    }

    /**
     * DoCommit of a branch this RM finished alone (the caller queues a plain delete for every other
     * branch): committed alone — same outcome, the row goes; rolled back alone — say so, decided by the RM.
     */
    Answer commitDecidedAlone(Resource r, String xid, long branchId) {
        return inTransaction(r, xid, branchId, BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE, c -> {
            UndoLogTable.Row row = r.undoLog().lock(c, xid, branchId);
            if (row != null && row.status() == UndoLogStatus.ROLLED_BACK_ALONE) {
                return rolledBackAlone(r, c, xid, branchId);
            }
            if (row != null && row.status() == UndoLogStatus.COMMITTED_ALONE) {
                return committedAlone(r, c, xid, branchId, true);
            }
            if (row != null && row.status().holdsImages()) {
                r.undoLog().delete(c, xid, branchId);
            }
            return Answer.of(BranchStatus.PHASE2_COMMITTED, "");
        });
    }

    /** Whether a COMMIT for this branch must read its undo log (it was finished alone, or we cannot tell). */
    boolean needsCheckOnCommit(Resource r, String xid, long branchId) {
        return unloaded.contains(r.resourceId()) || decidedAlone.contains(key(r, xid, branchId));
    }

    /**
     * The TC's ROLLBACK, in one local transaction. For a branch whose images the TC held, undo what
     * its rows show it committed ({@link ImageApplier#undoImagesHeldByTc}, which waits for a local
     * commit still in flight, so no late phase 1 can follow and no marker is needed) — unless that
     * commit wrote an undo-log row after all (a three-phase branch). Otherwise lock the branch's
     * undo-log row, then
     * <ul>
     *   <li>none: write an empty-rollback marker so a late phase 1 of this branch fails on the unique
     *       key and can never commit;</li>
     *   <li>a marker, or a branch this RM rolled back on its own: done (the latter becomes a marker);</li>
     *   <li>a branch this RM committed on its own: its undo log is gone, so it cannot be undone — an
     *       unretryable failure that says so, never a silent "done";</li>
     *   <li>else apply the images backward ({@link ImageApplier}) and delete the row; a dirty write
     *       rolls back, touching nothing.</li>
     * </ul>
     * Running it twice is harmless: the second run finds no undo log and writes (or finds) the marker,
     * or finds the rows of a branch whose images the TC held as the branch found them.
     *
     * @param recorded what the TC recorded for the branch ({@link BranchData}): the tables it wrote
     *                 (an undo log naming any other is refused; null: not recorded, by an older RM, not
     *                 checked) and, when the TC held them, its images
     */
    Answer rollback(Resource r, String xid, long branchId, BranchData.Recorded recorded) {
        Set<String> tables = recorded.tables();
        Answer answer = inTransaction(r, xid, branchId, BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE, c -> {
            if (recorded.images() != null) {
                // The rows first: their locks make this wait for a local commit in flight, after which the
                // undo-log row it may have written is there to read (an undo-log row locked first could
                // hold, on MySQL, a gap lock that the commit's insert of that row would wait for).
                ImageApplier.Outcome undone = r.images().undoImagesHeldByTc(c, xid, branchId, recorded.images(),
                        tables, () -> noUndoLogRow(r, c, xid, branchId));
                if (undone != null) {
                    if (undone.status() != BranchStatus.PHASE2_ROLLBACKED) {
                        c.rollback();
                    }
                    return Answer.of(undone.status(), undone.reason());
                }
                // Its local commit wrote an undo-log row after all (three-phase): rolled back from the row below.
            }
            for (int attempt = 0; attempt < 3; attempt++) {
                UndoLogTable.Row row;
                try {
                    row = r.undoLog().lock(c, xid, branchId);
                } catch (UndoLogTable.UnknownStatusException e) {
                    return Answer.of(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, e.getMessage());
                }
                if (row == null) {
                    if (r.undoLog().insertMarker(c, xid, branchId)) {
                        return Answer.of(BranchStatus.PHASE2_ROLLBACKED,
                                "no undo log: the branch never committed locally; marker written so it never will");
                    }
                    continue; // A phase 1 of this branch committed between our read and our insert: read again.
                }
                switch (row.status()) {
                    case ROLLBACK_MARKER -> {
                        return Answer.of(BranchStatus.PHASE2_ROLLBACKED, "already rolled back");
                    }
                    case ROLLED_BACK_ALONE -> {
                        // The TC agrees with what this RM did alone: nothing will be redone, keep only a marker.
                        r.undoLog().move(c, xid, branchId, row.status(), UndoLogStatus.ROLLBACK_MARKER);
                        return Answer.of(BranchStatus.PHASE2_ROLLBACKED, "already rolled back by this RM on its own");
                    }
                    case COMMITTED_ALONE -> {
                        String why = "branch " + branchId + " of " + xid + " was committed by this RM on its own"
                                + " (three-phase termination after it had seen PreCommit) and its undo log is gone: it"
                                + " cannot be rolled back; compensate it by hand (the RM's decision table says when and why)";
                        log.error("Rollback refused: {}", why);
                        return Answer.of(BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE, why);
                    }
                    case TWO_PHASE, THREE_PHASE, PRE_COMMITTED -> {
                        return applyThenDelete(r, c, xid, branchId, row, ImageApplier.Direction.BACKWARD, tables);
                    }
                }
            }
            return Answer.of(BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE, "undo log row kept changing; try again");
        });
        if (answer.status() == BranchStatus.PHASE2_ROLLBACKED && decidedAlone.remove(key(r, xid, branchId))) {
            markReported(r, xid, branchId);
        }
        return answer;
    }

    /** Whether the branch has no undo-log row (one in a state this version does not know counts as one). */
    private static boolean noUndoLogRow(Resource r, Connection c, String xid, long branchId) throws SQLException {
        try {
            return r.undoLog().lock(c, xid, branchId) == null;
        } catch (UndoLogTable.UnknownStatusException e) {
            return false;
        }
    }

    /**
     * The TC's REDO of a branch this RM rolled back alone while the outcome was commit: the images
     * applied forward and the row deleted, in one local transaction. Idempotent: a second run finds
     * no undo log.
     */
    Answer redo(Resource r, String xid, long branchId) {
        Answer answer = inTransaction(r, xid, branchId, BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE, c -> {
            UndoLogTable.Row row = r.undoLog().lock(c, xid, branchId);
            if (row == null) {
                return Answer.of(BranchStatus.PHASE2_COMMITTED, "no undo log: redone before");
            }
            return switch (row.status()) {
                case ROLLBACK_MARKER -> Answer.of(BranchStatus.PHASE2_COMMIT_FAILED_UNRETRYABLE, "branch " + branchId
                        + " of " + xid + " was rolled back on the TC's order and its undo log is gone: it cannot be redone");
                case ROLLED_BACK_ALONE -> applyThenDelete(r, c, xid, branchId, row, ImageApplier.Direction.FORWARD, null);
                case TWO_PHASE, THREE_PHASE, PRE_COMMITTED, COMMITTED_ALONE -> {
                    // Never rolled back (or committed alone): the rows hold the after images already.
                    r.undoLog().delete(c, xid, branchId);
                    yield Answer.of(BranchStatus.PHASE2_COMMITTED, "not rolled back: nothing to redo");
                }
            };
        });
        if (answer.status() == BranchStatus.PHASE2_COMMITTED && decidedAlone.remove(key(r, xid, branchId))) {
            markReported(r, xid, branchId);
        }
        return answer;
    }

    /** Applies the row's images in {@code direction}; done: the row goes, else nothing of it stays applied. */
    private static Answer applyThenDelete(Resource r, Connection c, String xid, long branchId, UndoLogTable.Row row,
                                          ImageApplier.Direction direction, Set<String> tables) throws SQLException {
        ImageApplier.Outcome applied = r.images().apply(c, xid, branchId, row.rollbackInfo(), direction, tables);
        if (applied.status() != direction.done()) {
            c.rollback();
            return Answer.of(applied.status(), applied.reason());
        }
        r.undoLog().delete(c, xid, branchId);
        return Answer.of(applied.status(), applied.reason());
    }

    private Answer rolledBackAlone(Resource r, Connection c, String xid, long branchId) throws SQLException {
        String why = "rolled back by this RM on its own: " + r.undoLog().decisionReason(c, xid, branchId);
        r.undoLog().markReported(c, xid, branchId);
        return new Answer(BranchStatus.PHASE2_ROLLBACKED, why, true);
    }

    private Answer committedAlone(Resource r, Connection c, String xid, long branchId, boolean settled) throws SQLException {
        String why = "committed by this RM on its own: " + r.undoLog().decisionReason(c, xid, branchId);
        r.undoLog().markReported(c, xid, branchId);
        if (settled) {
            r.undoLog().delete(c, xid, branchId);
            decidedAlone.remove(key(r, xid, branchId));
        }
        return new Answer(BranchStatus.PHASE2_COMMITTED, why, true);
    }

    // ---- termination: the RM finishes a branch ----

    /** Rolls back a branch that never saw PreCommit because no TC answered. True when done. */
    boolean rollBackAlone(Resource r, String xid, long branchId, String why) {
        Answer a = inTransaction(r, xid, branchId, BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE, c -> {
            UndoLogTable.Row row = r.undoLog().lock(c, xid, branchId);
            if (row == null || row.status() != UndoLogStatus.THREE_PHASE) {
                return Answer.of(BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE, "changed meanwhile");
            }
            // Alone, no TC command carries the recorded table list: the tables are not checked here.
            ImageApplier.Outcome undone = r.images().apply(c, xid, branchId, row.rollbackInfo(),
                    ImageApplier.Direction.BACKWARD, null);
            if (undone.status() != BranchStatus.PHASE2_ROLLBACKED) {
                c.rollback();
                r.undoLog().touch(c, xid, branchId);
                return Answer.of(undone.status(), undone.reason());
            }
            r.undoLog().move(c, xid, branchId, row.status(), UndoLogStatus.ROLLED_BACK_ALONE);
            r.undoLog().insertDecision(c, xid, branchId, false, why);
            return Answer.of(BranchStatus.PHASE2_ROLLBACKED, undone.reason());
        });
        if (a.status() == BranchStatus.PHASE2_ROLLBACKED) {
            decidedAlone.add(key(r, xid, branchId));
            log.warn("Branch {} of {} on {} rolled back by this RM on its own: {}", branchId, xid, r.resourceId(), why);
            return true;
        }
        if (!a.reason().equals("changed meanwhile")) {
            log.error("Branch {} of {} on {} could not be rolled back on its own ({}); it keeps waiting for the TC",
                    branchId, xid, r.resourceId(), a.reason());
        }
        return false;
    }

    /** Commits a branch that saw PreCommit because no TC answered: the undo log goes, the row stays as a tombstone. */
    boolean commitAlone(Resource r, String xid, long branchId, String why) {
        Answer a = inTransaction(r, xid, branchId, BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE, c -> {
            UndoLogTable.Row row = r.undoLog().lock(c, xid, branchId);
            if (row == null || row.status() != UndoLogStatus.PRE_COMMITTED) {
                return Answer.of(BranchStatus.PHASE2_COMMIT_FAILED_RETRYABLE, "changed meanwhile");
            }
            r.undoLog().move(c, xid, branchId, row.status(), UndoLogStatus.COMMITTED_ALONE);
            r.undoLog().insertDecision(c, xid, branchId, true, why);
            return Answer.of(BranchStatus.PHASE2_COMMITTED, "");
        });
        if (a.status() == BranchStatus.PHASE2_COMMITTED) {
            decidedAlone.add(key(r, xid, branchId));
            log.warn("Branch {} of {} on {} committed by this RM on its own: {}", branchId, xid, r.resourceId(), why);
            return true;
        }
        return false;
    }

    /** A TC said the outcome is commit: a branch waiting for PreCommit now counts as pre-committed. */
    void learnCommit(Resource r, String xid, long branchId) {
        inTransaction(r, xid, branchId, BranchStatus.PRE_COMMITTED, c -> {
            UndoLogTable.Row row = r.undoLog().lock(c, xid, branchId);
            if (row != null && row.status() == UndoLogStatus.THREE_PHASE) {
                r.undoLog().move(c, xid, branchId, row.status(), UndoLogStatus.PRE_COMMITTED);
            } else if (row != null) {
                r.undoLog().touch(c, xid, branchId);
            }
            return null;
        });
    }

    /** A TC spoke about the branch (or it is waiting on something else): restart its termination timer. */
    void touch(Resource r, String xid, long branchId) {
        inTransaction(r, xid, branchId, BranchStatus.PRE_COMMITTED, c -> {
            r.undoLog().touch(c, xid, branchId);
            return null;
        });
    }

    /** The TC has settled a branch finished alone with the same outcome: a rollback leaves a marker, a commit nothing. */
    void settle(Resource r, String xid, long branchId) {
        inTransaction(r, xid, branchId, BranchStatus.PHASE2_COMMITTED, c -> {
            UndoLogTable.Row row = r.undoLog().lock(c, xid, branchId);
            if (row != null && row.status() == UndoLogStatus.ROLLED_BACK_ALONE) {
                r.undoLog().move(c, xid, branchId, row.status(), UndoLogStatus.ROLLBACK_MARKER);
            } else if (row != null && row.status() == UndoLogStatus.COMMITTED_ALONE) {
                r.undoLog().delete(c, xid, branchId);
            }
            r.undoLog().markReported(c, xid, branchId);
            return null;
        });
        decidedAlone.remove(key(r, xid, branchId));
    }

    void markReported(Resource r, String xid, long branchId) {
        inTransaction(r, xid, branchId, BranchStatus.PHASE2_COMMITTED, c -> {
            r.undoLog().markReported(c, xid, branchId);
            return null;
        });
    }

    private static String key(Resource r, String xid, long branchId) {
        return r.resourceId() + '\n' + xid + '\n' + branchId;
    }

    /** Runs {@code work} in one local transaction; a database error becomes {@code onError} with the message. */
    private static Answer inTransaction(Resource r, String xid, long branchId, BranchStatus onError, Work work) {
        try {
            return inLocalTransaction(r, work::run);
        } catch (SQLException e) {
            log.warn("Step on branch {} of {} ({}) failed, the TC will ask again: {}", branchId, xid, r.resourceId(),
                    e.toString());
            return Answer.of(onError, "database error: " + e.getMessage());
        }
    }

    @FunctionalInterface
    private interface SqlWork<T> {
        T run(Connection c) throws SQLException;
    }

    /** {@code work} in one local transaction on {@code r}'s database: committed if it returns, rolled back if it throws. */
    private static <T> T inLocalTransaction(Resource r, SqlWork<T> work) throws SQLException {
        try (Connection c = r.target().getConnection()) {
            boolean autoCommit = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                return result;
            } catch (SQLException | RuntimeException e) {
                try {
                    c.rollback();
                } catch (SQLException ignored) {
                    // broken connection: closing it ends the transaction
                }
                throw e;
            } finally {
                c.setAutoCommit(autoCommit);
            }
        }
    }
}
