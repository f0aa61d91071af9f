package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchCommands;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.RmHello;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TcWelcome;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The RM's command stream against a real gRPC server on port 0 that plays the TC's side of
 * {@code Connect}: the RM announces itself, runs the commands it is sent through its handler and
 * answers on the same stream, and reopens the stream (announcing again) when the TC ends it.
 */
class RmConnectionStreamTest {

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);
    /** RmConnection's longest reconnect backoff plus a call timeout: how long a reconnection may take. */
    private static final Duration RECONNECT_DEADLINE = Duration.ofSeconds(5).plus(CALL_TIMEOUT);

    private final BlockingQueue<RmHello> hellos = new LinkedBlockingQueue<>();
    private final BlockingQueue<BranchResult> results = new LinkedBlockingQueue<>();
    private final BlockingQueue<StreamObserver<TcMessage>> streams = new LinkedBlockingQueue<>();
    private final AtomicBoolean endFirstStream = new AtomicBoolean();
    private Server server;

    @BeforeEach
    void listen() throws Exception {
        server = NettyServerBuilder.forPort(0).addService(new TransactionCoordinatorGrpc.TransactionCoordinatorImplBase() {
            @Override
            public StreamObserver<RmMessage> connect(StreamObserver<TcMessage> toRm) {
                return new StreamObserver<>() {
                    @Override
                    public void onNext(RmMessage message) {
                        if (message.hasHello()) {
                            hellos.add(message.getHello());
                            toRm.onNext(TcMessage.newBuilder().setWelcome(TcWelcome.newBuilder().setTcAddress("tc-1"))
                                    .build());
                            if (endFirstStream.compareAndSet(true, false)) {
                                toRm.onCompleted(); // as a TC replica that shuts down
                                return;
                            }
                            streams.add(toRm);
                        } else {
                            results.addAll(message.getResults().getResultsList());
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        // the RM went away
                    }

                    @Override
                    public void onCompleted() {
                        toRm.onCompleted();
                    }
                };
            }
        }).build().start();
    }

    @AfterEach
    void stop() throws Exception {
        server.shutdownNow();
        server.awaitTermination(10, TimeUnit.SECONDS);
    }

    private RmConnection connect(BranchCommandHandler handler) {
        TcClientConfig config = new TcClientConfig("127.0.0.1:" + server.getPort(), "stream-test", "", CALL_TIMEOUT, 1,
                Duration.ofMillis(10));
        return new RmConnection(config, "rm-7", List.of("jdbc:db-1", "jdbc:db-2"), handler, 2);
    }

    private static BranchResult done(BranchCommand c) {
        return BranchResult.newBuilder().setRequestId(c.getRequestId()).setXid(c.getXid()).setBranchId(c.getBranchId())
                .setStatus(BranchStatusCode.BRANCH_PHASE2_COMMITTED).build();
    }

    private static TcMessage batch(long firstRequestId, int n) {
        BranchCommands.Builder commands = BranchCommands.newBuilder();
        for (int i = 0; i < n; i++) {
            commands.addCommands(BranchCommand.newBuilder().setRequestId(firstRequestId + i).setXid("tc-1:" + i)
                    .setBranchId(100 + i).setResourceId("jdbc:db-1").setAction(BranchAction.COMMIT));
        }
        return TcMessage.newBuilder().setCommands(commands).build();
    }

    @Test
    void shouldAnnounceItsResourcesAndAnswerEveryCommandOfABatchOnTheSameStream() throws Exception {
        try (RmConnection rm = connect(commands -> commands.stream().map(RmConnectionStreamTest::done).toList())) {
            RmHello hello = hellos.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(hello).as("hello within the call timeout").isNotNull();
            assertThat(hello.getApplicationId()).isEqualTo("stream-test");
            assertThat(hello.getClientId()).isEqualTo("rm-7");
            assertThat(hello.getResourceIdsList()).containsExactly("jdbc:db-1", "jdbc:db-2");

            streams.take().onNext(batch(1, 3));

            for (long id = 1; id <= 3; id++) {
                BranchResult r = results.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                assertThat(r).as("result " + id).isNotNull();
                assertThat(r.getRequestId()).isEqualTo(id);
                assertThat(r.getStatus()).isEqualTo(BranchStatusCode.BRANCH_PHASE2_COMMITTED);
            }
            assertThat(rm.connectedReplicas()).isEqualTo(1);
        }
    }

    /**
     * A batch the handler answers at once (a phase-2 COMMIT that only queues work) is answered on the
     * stream's network thread, with no worker woken; a batch it declines (null) goes to a worker's
     * handle(), and handle() never runs on the network thread.
     */
    @Test
    void shouldAnswerABatchTheHandlerAnswersAtOnceOnTheNetworkThread() throws Exception {
        List<String> threads = new CopyOnWriteArrayList<>();
        BranchCommandHandler handler = new BranchCommandHandler() {
            @Override
            public List<BranchResult> handle(List<BranchCommand> commands) {
                threads.add(Thread.currentThread().getName());
                return commands.stream().map(RmConnectionStreamTest::done).toList();
            }

            @Override
            public List<BranchResult> answerAtOnce(List<BranchCommand> commands) {
                if (commands.get(0).getRequestId() >= 10) {
                    return null; // as a COMMIT of a branch decided alone: a worker's handle() reads the database
                }
                threads.add(Thread.currentThread().getName());
                return commands.stream().map(RmConnectionStreamTest::done).toList();
            }
        };
        try (RmConnection rm = connect(handler)) {
            StreamObserver<TcMessage> stream = streams.take();
            stream.onNext(batch(1, 2));
            for (int i = 0; i < 2; i++) {
                assertThat(results.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).as("result " + i).isNotNull();
            }
            stream.onNext(batch(10, 1));
            assertThat(results.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).as("result of the worker").isNotNull();
            assertThat(threads).hasSize(2);
            assertThat(threads.get(0)).doesNotStartWith("cohort-rm-phase2");
            assertThat(threads.get(1)).startsWith("cohort-rm-phase2");
        }
    }

    /**
     * Commands that arrive while every worker is busy, one stream message each, wait for the next
     * free worker together and reach the handler as batches (which it can run in one local
     * transaction), not one call per message.
     */
    @Test
    void shouldHandCommandsThatArriveWhileEveryWorkerIsBusyToTheHandlerTogether() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        List<Integer> sizes = new CopyOnWriteArrayList<>();
        BranchCommandHandler handler = commands -> {
            if (calls.incrementAndGet() <= 2) {
                try { // both workers held, as on a slow database
                    assertThat(release.await(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            } else {
                sizes.add(commands.size());
            }
            return commands.stream().map(RmConnectionStreamTest::done).toList();
        };
        try (RmConnection rm = connect(handler)) {
            StreamObserver<TcMessage> stream = streams.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(stream).as("stream within the call timeout").isNotNull();
            stream.onNext(batch(1, 1));
            stream.onNext(batch(2, 1));
            long deadline = System.nanoTime() + CALL_TIMEOUT.toNanos();
            while (calls.get() < 2 && System.nanoTime() < deadline) {
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
            assertThat(calls.get()).as("both workers busy").isEqualTo(2);
            for (long id = 3; id <= 8; id++) {
                stream.onNext(batch(id, 1));
            }
            while (rm.queuedCommands() < 6 && System.nanoTime() < deadline) {
                java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
            }
            assertThat(rm.queuedCommands()).as("six commands waiting").isEqualTo(6);
            release.countDown();

            for (int i = 0; i < 8; i++) {
                assertThat(results.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).as("result " + i).isNotNull();
            }
            assertThat(sizes.stream().mapToInt(Integer::intValue).sum()).isEqualTo(6);
            // Each worker takes a fair share of what waits (half, rounded up): usually 3 + 2 + 1. A worker
            // descheduled between taking its share and running it leaves the rest to the other, which
            // halves what it sees at each round: 2 + 1 + 1 besides the stalled one's 2, never more calls.
            assertThat(sizes).as("the six waiting commands in fewer handler calls than messages").hasSizeLessThanOrEqualTo(4);
        }
    }

    @Test
    void shouldKeepTheStreamWhenAHandlerFailsSoTheResentBatchIsAnswered() throws Exception {
        AtomicBoolean fail = new AtomicBoolean(true);
        BranchCommandHandler handler = commands -> {
            if (fail.getAndSet(false)) {
                throw new IllegalStateException("database down");
            }
            return commands.stream().map(RmConnectionStreamTest::done).toList();
        };
        try (RmConnection rm = connect(handler)) {
            StreamObserver<TcMessage> stream = streams.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(stream).as("stream within the call timeout").isNotNull();

            stream.onNext(batch(1, 1));
            // No answer to the failed batch; the TC resends it on the same stream, and it is answered.
            stream.onNext(batch(1, 1));

            BranchResult r = results.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(r).isNotNull();
            assertThat(r.getRequestId()).isEqualTo(1);
            assertThat(results).isEmpty();
            assertThat(hellos).hasSize(1);
        }
    }

    @Test
    void shouldReopenTheStreamAndAnnounceAgainWhenTheTcEndsIt() throws Exception {
        endFirstStream.set(true);
        try (RmConnection rm = connect(commands -> commands.stream().map(RmConnectionStreamTest::done).toList())) {
            assertThat(hellos.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).as("first hello").isNotNull();

            RmHello again = hellos.poll(RECONNECT_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(again).as("hello on the reopened stream").isNotNull();
            assertThat(again.getResourceIdsList()).containsExactly("jdbc:db-1", "jdbc:db-2");

            streams.take().onNext(batch(9, 1));
            BranchResult r = results.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(r).isNotNull();
            assertThat(r.getRequestId()).isEqualTo(9);
        }
    }
}
