package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.RmHello;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 12, item 5: an RM that opens its command stream and never reads it. The TC used to resend
 * every retried command into the stream while the earlier copies were still queued, and its direct
 * memory grew without end. Now it holds at most a bounded amount per stream, closes a stream that
 * takes nothing for a command timeout, and a real RM that comes later finishes every branch.
 */
class SlowRmIT {

    private static final String RESOURCE = "jdbc:postgresql://slow/bank";
    private static final int TRANSACTIONS = 160;
    /** The most a branch may carry (the TC's limit on application data). */
    private static final int PAYLOAD_BYTES = 64 * 1024;
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(2);
    private static final long MAX_QUEUED_BYTES = 4L << 20;
    /**
     * How long the stalled RM is watched. The old TC added one copy of every command per retry
     * (about every command timeout): 10 MiB each round here, far over the bound below within this.
     */
    private static final Duration WATCHED = Duration.ofSeconds(30);
    /** Direct memory the TC may add while the RM does not read: gRPC's own buffers, never the retries. */
    private static final long DIRECT_GROWTH_BOUND = 48L << 20;

    @Test
    void anRmThatNeverReadsCostsTheTcBoundedMemoryAndARealRmFinishesEveryBranchLater(@TempDir Path dir)
            throws Exception {
        try (TcProcess tc = TcProcess.embedded(dir.resolve("data"),
                "--cohort.tc.recovery.command-timeout=" + COMMAND_TIMEOUT.toMillis() + "ms",
                "--cohort.tc.recovery.max-backoff=300ms",
                "--cohort.tc.recovery.max-attempts=100000",
                "--cohort.tc.store.embedded.fsync=false",
                "--cohort.tc.connections.max-queued-bytes-per-stream=" + MAX_QUEUED_BYTES).start();
             TcClient tm = new TcClient(new TcClientConfig(tc.grpcAddress(), "slow-rm-it", "", Duration.ofSeconds(30), 3,
                     Duration.ofMillis(100)))) {
            List<String> xids = new ArrayList<>();
            ManagedChannel slowChannel = NettyChannelBuilder.forTarget(tc.grpcAddress()).usePlaintext().build();
            try {
                openStreamAndNeverRead(slowChannel);
                byte[] payload = new byte[PAYLOAD_BYTES];
                for (int i = 0; i < TRANSACTIONS; i++) {
                    Arrays.fill(payload, (byte) i);
                    String xid = tm.begin("slow-rm", Duration.ofMinutes(10), TransactionProtocol.TWO_PHASE);
                    tm.registerBranch(xid, RESOURCE, List.of("account:" + i), payload, "rm-slow");
                    xids.add(xid);
                }
                long baseline = metric(tc, "jvm.buffer.memory.used", "id:direct");
                for (String xid : xids) {
                    tm.rollback(xid);
                }

                long peakDirect = 0;
                long peakHeap = 0;
                long until = System.nanoTime() + WATCHED.toNanos();
                while (System.nanoTime() < until) {
                    peakDirect = Math.max(peakDirect, metric(tc, "jvm.buffer.memory.used", "id:direct"));
                    peakHeap = Math.max(peakHeap, metric(tc, "jvm.memory.used", "area:heap"));
                    assertThat(peakDirect - baseline).as("direct memory the TC added (from %d bytes; heap peak %d bytes)",
                            baseline, peakHeap).isLessThan(DIRECT_GROWTH_BOUND);
                    TestRm.sleep(500);
                }
                String log = Files.readString(tc.log());
                assertThat(log).as("the TC's log").contains("Closing the command stream of RM rm-slow");
                for (String xid : xids) {
                    assertThat(tm.status(xid).getStatus()).as(xid)
                            .isIn(GlobalStatusCode.GLOBAL_ROLLBACKING, GlobalStatusCode.GLOBAL_ROLLBACK_RETRYING);
                }
            } finally {
                slowChannel.shutdownNow();
            }

            try (TestRm rm = new TestRm(tc.grpcAddress(), "rm-real", List.of(RESOURCE))) {
                for (int i = 0; i < xids.size(); i++) {
                    String xid = xids.get(i);
                    CoordinatorScenarios.await(() -> tm.status(xid).getStatus() == GlobalStatusCode.GLOBAL_ROLLBACKED,
                            () -> xid + " to be rolled back by the real RM (is " + tm.status(xid).getStatus() + ")");
                    BranchCommand first = rm.receivedFor(xid).get(0);
                    byte[] expected = new byte[PAYLOAD_BYTES];
                    Arrays.fill(expected, (byte) i);
                    assertThat(first.getApplicationData().toByteArray()).as("application data of %s", xid)
                            .isEqualTo(expected);
                }
            }
        }
    }

    /** Says hello for {@link #RESOURCE}, then never asks for a message: the TC's sends stop at flow control. */
    private static void openStreamAndNeverRead(ManagedChannel channel) {
        var toTc = TransactionCoordinatorGrpc.newStub(channel).connect(new ClientResponseObserver<RmMessage, TcMessage>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<RmMessage> stream) {
                stream.disableAutoRequestWithInitial(0);
            }

            @Override
            public void onNext(TcMessage message) {
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        });
        toTc.onNext(RmMessage.newBuilder().setHello(RmHello.newBuilder().setClientId("rm-slow")
                .setApplicationId("slow").addResourceIds(RESOURCE)).build());
    }

    private static final Pattern VALUE = Pattern.compile("\"statistic\"\\s*:\\s*\"VALUE\"\\s*,\\s*\"value\"\\s*:\\s*([0-9.Ee+-]+)");

    /** One gauge of the TC's actuator, summed over the meters matching {@code tag} (name:value). */
    private static long metric(TcProcess tc, String name, String tag) {
        RawHttp.Response response = RawHttp.send(tc.httpPort(), "GET",
                "/actuator/metrics/" + name + "?tag=" + tag);
        assertThat(response.status()).as("GET metric %s: %s", name, response.body()).isEqualTo(200);
        Matcher m = VALUE.matcher(response.body());
        assertThat(m.find()).as("a value in %s", response.body()).isTrue();
        return (long) Double.parseDouble(m.group(1));
    }
}
