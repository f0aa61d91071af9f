package io.cohort.tc.it;

import io.cohort.client.BranchCommandHandler;
import io.cohort.client.RmConnection;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchStatusCode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * A test RM over the real command stream: answers each branch command with what {@link #answer}
 * says (default: success) and remembers every command it got, in order.
 */
public final class TestRm implements AutoCloseable {

    public final List<BranchCommand> received = new CopyOnWriteArrayList<>();
    public volatile Function<BranchCommand, BranchStatusCode> answer = TestRm::success;
    /** Which answers claim the RM reached the status on its own (3PC termination). */
    public volatile Predicate<BranchCommand> decidedByRm = c -> false;
    private final RmConnection connection;

    public TestRm(String tcAddress, String clientId, List<String> resourceIds) {
        this(TcClientConfig.of(tcAddress, "test-rm"), clientId, resourceIds);
    }

    public TestRm(TcClientConfig config, String clientId, List<String> resourceIds) {
        String tcAddress = config.address();
        BranchCommandHandler handler = commands -> {
            List<BranchResult> results = new ArrayList<>();
            for (BranchCommand c : commands) {
                received.add(c);
                BranchStatusCode status = answer.apply(c);
                results.add(BranchResult.newBuilder().setRequestId(c.getRequestId()).setXid(c.getXid())
                        .setBranchId(c.getBranchId()).setStatus(status)
                        .setReason(status == success(c) ? "" : "test RM said " + status)
                        .setDecidedByRm(decidedByRm.test(c)).build());
            }
            return results;
        };
        this.connection = new RmConnection(config, clientId, resourceIds, handler, 2);
        // Generous: a TC that just started on a loaded machine can take many seconds to welcome an RM.
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (connection.connectedReplicas() == 0) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("test RM could not connect to " + tcAddress);
            }
            sleep(10);
        }
    }

    public static BranchStatusCode success(BranchCommand c) {
        return switch (c.getAction()) {
            case COMMIT, REDO -> BranchStatusCode.BRANCH_PHASE2_COMMITTED;
            case CAN_COMMIT -> BranchStatusCode.BRANCH_VOTED_YES;
            case PRE_COMMIT -> BranchStatusCode.BRANCH_PRE_COMMITTED;
            default -> BranchStatusCode.BRANCH_PHASE2_ROLLBACKED;
        };
    }

    public List<BranchCommand> receivedFor(String xid) {
        return received.stream().filter(c -> c.getXid().equals(xid)).toList();
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        connection.close();
    }
}
