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
     * command, each echoing the command's request id. Runs on a worker thread, or on gRPC's network
     * thread for a batch that {@link #answersAtOnce} accepted.
     */
    List<BranchResult> handle(List<BranchCommand> commands);

    /**
     * Whether {@link #handle} answers {@code commands} at once, with no I/O and no lock that waits (a
     * phase-2 COMMIT whose only work is queued for later): the stream then handles them on its network
     * thread as they arrive, sparing a worker's wake-up and the hand-back of the answer to the network
     * thread. False unless the handler says so.
     */
    default boolean answersAtOnce(List<BranchCommand> commands) {
        return false;
    }
}
