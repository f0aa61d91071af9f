package io.cohort.rm.jdbc;

import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.RmConfig;
import io.micrometer.observation.ObservationRegistry;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What one RM does for its branches once their phase 1 is over, wired together: answers the TC's
 * phase-2 commands ({@link #handler()}), deletes committed branches' undo logs in batches (and those
 * whose delete was lost with an earlier process), and, for 3PC, finishes branches alone past their
 * termination timeout. The one entry the RM's wiring uses, so
 * that the parts stay package-private.
 */
final class BranchRuntime implements AutoCloseable {

    private final AsyncUndoDeleter deleter;
    private final BranchPhase2Handler handler;
    private final TerminationMonitor termination;

    /**
     * {@code resource}: a resource by id (null if none); {@code resources}: every resource now, read at
     * each termination check.
     */
    BranchRuntime(Function<String, Resource> resource, Supplier<List<Resource>> resources,
            BranchCoordinator coordinator, RmConfig config, Clock clock, ObservationRegistry observations) {
        this.deleter = new AsyncUndoDeleter(config, coordinator, clock);
        LocalBranches branches = new LocalBranches();
        this.handler = new BranchPhase2Handler(resource, deleter, branches, observations);
        this.termination = new TerminationMonitor(resources, coordinator, branches, config, clock);
    }

    /** Takes in a newly wrapped resource; call before any command can arrive for it. */
    void add(Resource resource) {
        deleter.register(resource);
        termination.loadBranches(resource);
    }

    BranchPhase2Handler handler() {
        return handler;
    }

    /** 3PC: looks for branches past their termination timeout now, instead of at the next check. */
    void checkTermination() {
        termination.checkAll();
    }

    /** Deletes queued undo logs now. */
    void flushUndoDeletes() {
        deleter.flush();
    }

    /** Checks every resource's two-phase undo logs against the TC now, whatever their age (tests). */
    Map<String, AsyncUndoDeleter.LeftoverCheck> checkLeftoverUndoLogs() {
        return deleter.checkLeftoversNow();
    }

    @Override
    public void close() {
        termination.close();
        deleter.close();
    }
}
