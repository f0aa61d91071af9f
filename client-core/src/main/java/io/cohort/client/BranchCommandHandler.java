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
}
