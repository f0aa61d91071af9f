package io.cohort.client;

import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import java.util.List;

/**
 * The RM's side of the command stream: does what the TC asks for each branch and says how it went.
 * Must be idempotent — the TC repeats a command it got no answer for.
 */
public interface BranchCommandHandler {

    /**
     * Handles one batch of commands (usually for many branches) and returns one result per
     * command, each echoing the command's request id. Runs on a worker thread, never on gRPC's.
     */
    List<BranchResult> handle(List<BranchCommand> commands);

    /**
     * Answers {@code commands} on the stream's network thread as they arrive, when that needs no I/O
     * and no lock that waits (a phase-2 COMMIT whose only work is queued for later), sparing a worker's
     * wake-up and the hand-back of the answer; or null, doing nothing, when any of them may need more:
     * they then go to a worker's {@link #handle}. One call decides and answers, so no path from here
     * may reach the database whatever changes meanwhile. Null unless the handler says otherwise.
     */
    default List<BranchResult> answerAtOnce(List<BranchCommand> commands) {
        return null;
    }
}
