package io.cohort.tc.it;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchResults;
import io.cohort.protocol.v1.RmHello;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * An RM command stream written by hand, as an attacker holding a client token would: it says
 * hello and then sends whatever results it likes. {@link #awaitProcessed} proves that the TC has
 * read everything sent so far (a second hello, which the TC answers by closing the stream).
 */
final class ForgingRm implements AutoCloseable {

    private final ManagedChannel channel;
    private final StreamObserver<RmMessage> toTc;
    final CompletableFuture<Status> closedByTc = new CompletableFuture<>();

    ForgingRm(String tcAddress, String token, String clientId, String... resourceIds) {
        channel = NettyChannelBuilder.forTarget(tcAddress).usePlaintext().build();
        Metadata headers = new Metadata();
        headers.put(Protocol.AUTHORIZATION, "Bearer " + token);
        var stub = TransactionCoordinatorGrpc.newStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        toTc = stub.connect(new StreamObserver<>() {
            @Override
            public void onNext(TcMessage message) {
            }

            @Override
            public void onError(Throwable t) {
                closedByTc.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                closedByTc.complete(Status.OK);
            }
        });
        toTc.onNext(RmMessage.newBuilder().setHello(RmHello.newBuilder().setClientId(clientId)
                .setApplicationId("forger").addAllResourceIds(List.of(resourceIds))).build());
    }

    void sendResults(List<BranchResult> results) {
        for (int from = 0; from < results.size(); from += 500) {
            toTc.onNext(RmMessage.newBuilder().setResults(BranchResults.newBuilder()
                    .addAllResults(results.subList(from, Math.min(results.size(), from + 500)))).build());
        }
    }

    void awaitProcessed() throws Exception {
        toTc.onNext(RmMessage.newBuilder().setHello(RmHello.newBuilder().setClientId("again").addResourceIds("x")).build());
        closedByTc.get(60, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
