package io.cohort.rm.jdbc;

import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.RmConfig;
import io.micrometer.observation.ObservationRegistry;
import java.sql.SQLException;
import java.time.Clock;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one RM does for its branches once their phase 1 is over, wired together: answers the TC's
 * phase-2 commands ({@link #handler()}), deletes committed branches' undo logs in batches, and, for
 * 3PC, finishes branches alone past their termination timeout. The one entry the RM's wiring uses, so
 * that the parts stay package-private.
 */
final class BranchRuntime implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(BranchRuntime.class);

    private final AsyncUndoDeleter deleter;
    private final LocalBranches branches;
    private final BranchPhase2Handler handler;
    private final TerminationMonitor termination;

    /**
     * {@code resource}: a resource by id (null if none); {@code resources}: every resource now, read at
     * each termination check.
     */
    BranchRuntime(Function<String, Resource> resource, Supplier<List<Resource>> resources,
            BranchCoordinator coordinator, RmConfig config, Clock clock, ObservationRegistry observations) {
        this.deleter = new AsyncUndoDeleter(config, clock);
        this.branches = new LocalBranches();
        this.handler = new BranchPhase2Handler(resource, deleter, branches, observations);
        this.termination = new TerminationMonitor(resources, coordinator, branches, config, clock);
    }

    /** Takes in a newly wrapped resource; call before any command can arrive for it. */
    void add(Resource resource) {
        deleter.register(resource);
        try {
            branches.loadDecidedAlone(resource);
        } catch (SQLException e) {
            // Not an error yet: the application's schema scripts may run after the wrapping; the
            // termination checks read again and warn if it stays unreadable.
            log.debug("The undo log of {} is not readable yet ({}); read again at each termination check",
                    resource.resourceId(), String.valueOf(e.getMessage()).replaceAll("[\\r\\n]+", " "));
        }
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

    @Override
    public void close() {
        termination.close();
        deleter.close();
    }
}
