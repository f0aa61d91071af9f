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
import java.util.concurrent.CopyOnWriteArrayList;
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
    /** What the TC sent on the stream (the welcome, commands). */
    final List<TcMessage> received = new CopyOnWriteArrayList<>();
    /** The trailers the TC closed the stream with, once {@link #closedByTc} completed with an error. */
    volatile Metadata closingTrailers;

    ForgingRm(String tcAddress, String token, String clientId, String... resourceIds) {
        this(NettyChannelBuilder.forTarget(tcAddress).usePlaintext().build(), token, clientId, resourceIds);
    }

    /** Over {@code channel} (closed with this), with {@code token} unless it is null. */
    ForgingRm(ManagedChannel channel, String token, String clientId, String... resourceIds) {
        this.channel = channel;
        Metadata headers = new Metadata();
        if (token != null) {
            headers.put(Protocol.AUTHORIZATION, "Bearer " + token);
        }
        var stub = TransactionCoordinatorGrpc.newStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        toTc = stub.connect(new StreamObserver<>() {
            @Override
            public void onNext(TcMessage message) {
                received.add(message);
            }

            @Override
            public void onError(Throwable t) {
                closingTrailers = Status.trailersFromThrowable(t);
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
