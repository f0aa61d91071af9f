package io.cohort.tc.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchResults;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.tc.coordinator.BranchChannel;
import io.cohort.tc.model.Branch;
import io.cohort.tc.support.AfterCompletions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The dispatcher over a real gRPC stream on loopback, to an RM that reads only when the test lets
 * it: commands wait for flow control, a retry of a command still waiting adds no copy, and a
 * command that may wait goes with the next one that may not, or alone after its delay.
 */
class BranchDispatcherTest {

    private static final String RESOURCE = "jdbc:postgresql://unit/bank";
    /** Longer than the tests: nothing here times out or is closed as stalled. */
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(120);
    /** Longer than the tests too, unless a test starts its own: a command that may wait waits for another. */
    private static final Duration COMMIT_BATCH_DELAY = Duration.ofSeconds(60);
    private static final int PAYLOAD_BYTES = 256 * 1024;
    private static final long MAX_QUEUED_BYTES = 4L << 20;

    private final ExecutorService sendExecutor = Executors.newSingleThreadExecutor();
    private final Thread testThread = Thread.currentThread();
    /** Flushes the test's own sends handed to the send executor (not the stream's onReady ones, from gRPC's threads). */
    private final AtomicInteger hops = new AtomicInteger();
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    private BranchDispatcher dispatcher;
    private final List<BranchCommand> received = new CopyOnWriteArrayList<>();
    /** Commands per stream message the RM received. */
    private final List<Integer> messages = new CopyOnWriteArrayList<>();
    private Server server;
    private ManagedChannel channel;
    private ClientCallStreamObserver<RmMessage> rm;

    @BeforeEach
    void start() throws Exception {
        start(COMMIT_BATCH_DELAY);
    }

    private void start(Duration commitBatchDelay) throws Exception {
        dispatcher = new BranchDispatcher(r -> {
            if (Thread.currentThread() == testThread) {
                hops.incrementAndGet();
            }
            sendExecutor.execute(r);
        }, scheduler, COMMAND_TIMEOUT, MAX_QUEUED_BYTES, commitBatchDelay);
        server = NettyServerBuilder.forPort(0).addService(new TransactionCoordinatorGrpc.TransactionCoordinatorImplBase() {
            @Override
            public StreamObserver<RmMessage> connect(StreamObserver<TcMessage> outbound) {
                BranchDispatcher.RmSession session = dispatcher.connected("rm-1", "unit", List.of(RESOURCE), outbound);
                ((ServerCallStreamObserver<TcMessage>) outbound).setOnReadyHandler(session::onReady);
                return new StreamObserver<>() {
                    @Override
                    public void onNext(RmMessage message) {
                        message.getResults().getResultsList().forEach(r -> dispatcher.resultArrived(session, r));
                    }

                    @Override
                    public void onError(Throwable t) {
                        dispatcher.disconnected(session);
                    }

                    @Override
                    public void onCompleted() {
                        dispatcher.disconnected(session);
                    }
                };
            }
        }).build().start();
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.getPort()).usePlaintext().build();
        TransactionCoordinatorGrpc.newStub(channel).connect(new ClientResponseObserver<RmMessage, TcMessage>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<RmMessage> stream) {
                rm = stream;
                stream.disableAutoRequestWithInitial(0); // reads nothing until the test asks
            }

            @Override
            public void onNext(TcMessage message) {
                messages.add(message.getCommands().getCommandsCount());
                List<BranchResult> results = new ArrayList<>();
                for (BranchCommand c : message.getCommands().getCommandsList()) {
                    received.add(c);
                    results.add(BranchResult.newBuilder().setRequestId(c.getRequestId()).setXid(c.getXid())
                            .setBranchId(c.getBranchId()).setStatus(BranchStatusCode.BRANCH_PHASE2_ROLLBACKED).build());
                }
                synchronized (rm) {
                    rm.onNext(RmMessage.newBuilder().setResults(BranchResults.newBuilder().addAllResults(results)).build());
                }
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        });
        rm.onNext(RmMessage.getDefaultInstance()); // opens the stream on the server
        await(() -> dispatcher.hasResource(RESOURCE), "the RM stream to be registered");
    }

    @AfterEach
    void stop() {
        stopStream();
        sendExecutor.shutdownNow();
        scheduler.shutdownNow();
    }

    private void stopStream() {
        channel.shutdownNow();
        server.shutdownNow();
    }

    /** One round trip, then the send executor idle: the stream's first onReady flush is over. */
    private void settle() throws Exception {
        rm.request(Integer.MAX_VALUE);
        dispatcher.send("xid-0", branch("xid-0", 0, 16), BranchAction.ROLLBACK)
                .orTimeout(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).join();
        sendExecutor.submit(() -> { }).get(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        messages.clear();
        hops.set(0);
    }

    @Test
    void commitsThatMayWaitGoOutWithTheNextCommandThatMayNot() throws Exception {
        settle();
        List<CompletableFuture<BranchChannel.Outcome>> answers = new ArrayList<>();
        for (long id = 1; id <= 3; id++) {
            answers.add(dispatcher.send("xid-" + id, branch("xid-" + id, id, 16), BranchAction.COMMIT, Map.of(),
                    BranchChannel.Urgency.MAY_WAIT));
        }
        assertThat(dispatcher.queuedBytes()).as("bytes of commits waiting for company").isPositive();
        assertThat(messages).as("messages sent while the commits may wait").isEmpty();

        answers.add(dispatcher.send("xid-4", branch("xid-4", 4, 16), BranchAction.ROLLBACK, Map.of(),
                BranchChannel.Urgency.NOW));
        answers.forEach(a -> a.orTimeout(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).join());
        assertThat(messages).as("commands per message: the rollback took the waiting commits along")
                .containsExactly(4);
        assertThat(dispatcher.queuedBytes()).isZero();
    }

    @Test
    void aCommitThatMayWaitGoesOutByItselfOnceItsDelayIsOver() throws Exception {
        Duration delay = Duration.ofMillis(300);
        stopStream();
        start(delay);
        settle();

        long sentAt = System.nanoTime();
        CompletableFuture<BranchChannel.Outcome> answer = dispatcher.send("xid-1", branch("xid-1", 1, 16),
                BranchAction.COMMIT, Map.of(), BranchChannel.Urgency.MAY_WAIT);
        answer.orTimeout(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).join();
        assertThat(Duration.ofNanos(System.nanoTime() - sentAt)).as("time to the answer").isGreaterThanOrEqualTo(delay);
        assertThat(messages).containsExactly(1);
    }

    @Test
    void aRetryOfACommandStillWaitingForFlowControlWaitsForItInsteadOfSendingACopy() throws Exception {
        // Enough for the client's flow-control window and gRPC's buffer, so the last ones wait here.
        for (long id = 1; id <= 10; id++) {
            dispatcher.send("xid-" + id, branch("xid-" + id, id), BranchAction.ROLLBACK);
        }
        await(() -> dispatcher.queuedBytes() > PAYLOAD_BYTES, "commands to wait for flow control");
        long queued = dispatcher.queuedBytes();

        CompletableFuture<BranchChannel.Outcome> retry = dispatcher.send("xid-10", branch("xid-10", 10),
                BranchAction.ROLLBACK);
        // The stream may still take some while its windows fill; it never holds more after a retry.
        assertThat(dispatcher.queuedBytes()).as("bytes queued after a retry of a queued command")
                .isLessThanOrEqualTo(queued);

        rm.request(Integer.MAX_VALUE);
        assertThat(retry.get(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).status())
                .as("the retry, answered through the one queued command").isEqualTo(BranchStatus.PHASE2_ROLLBACKED);
        assertThat(received.stream().filter(c -> c.getBranchId() == 10).count()).as("copies of the command sent")
                .isEqualTo(1);
        assertThat(dispatcher.queuedBytes()).isZero();
    }

    @Test
    void theCommandsSentWhileABatchOfCompletionsRunsGoOutAfterItAsOneMessageFromItsThread() throws Exception {
        settle();

        List<CompletableFuture<BranchChannel.Outcome>> answers = new ArrayList<>();
        AfterCompletions.run(() -> {
            for (long id = 1; id <= 3; id++) {
                answers.add(dispatcher.send("xid-" + id, branch("xid-" + id, id, 16), BranchAction.ROLLBACK));
            }
        });
        answers.forEach(a -> assertThat(a.orTimeout(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).join().status())
                .isEqualTo(BranchStatus.PHASE2_ROLLBACKED));
        assertThat(messages).as("commands per message").containsExactly(3);
        assertThat(hops).as("flushes handed to the send executor").hasValue(0);

        // Outside a batch (a retry from the recovery loop) the send executor sends, as before.
        assertThat(dispatcher.send("xid-4", branch("xid-4", 4, 16), BranchAction.ROLLBACK)
                .orTimeout(COMMAND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).join().status())
                .isEqualTo(BranchStatus.PHASE2_ROLLBACKED);
        assertThat(hops).hasValue(1);
    }

    @Test
    void aStreamHoldsAtMostItsQueuedBytesAndRefusesMoreAsRetryable() {
        List<CompletableFuture<BranchChannel.Outcome>> refused = new ArrayList<>();
        for (long id = 1; id <= 40; id++) {
            CompletableFuture<BranchChannel.Outcome> f = dispatcher.send("xid-" + id, branch("xid-" + id, id),
                    BranchAction.ROLLBACK);
            if (f.isDone()) {
                refused.add(f);
            }
        }
        assertThat(dispatcher.queuedBytes()).isLessThanOrEqualTo(MAX_QUEUED_BYTES);
        assertThat(refused).as("commands refused once the stream's queue is full").isNotEmpty();
        assertThat(refused.get(0).join().status()).isEqualTo(BranchStatus.PHASE2_ROLLBACK_FAILED_RETRYABLE);
        assertThat(refused.get(0).join().reason()).contains("rm-1")
                .contains("cohort.tc.connections.max-queued-bytes-per-stream");
    }

    private static Branch branch(String xid, long branchId) {
        return branch(xid, branchId, PAYLOAD_BYTES);
    }

    private static Branch branch(String xid, long branchId, int payloadBytes) {
        return new Branch(xid, branchId, RESOURCE, "rm-1", List.of(), new byte[payloadBytes], BranchStatus.REGISTERED,
                0, "");
    }

    private static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Timed out waiting for " + what);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
