package io.cohort.client;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Builds gRPC channels to the TC: one target, a list of replicas, or a DNS name over all replicas. */
final class TcChannels {

    private TcChannels() {
    }

    /**
     * One channel over every listed address: a single {@code host:port} is used as is, a
     * {@code dns:///} (or other scheme) target resolves to every replica, and a list is balanced
     * round-robin through a static resolver. {@code singleAddress} pins the channel to one replica.
     */
    static ManagedChannel open(List<String> addresses, String singleAddress) {
        NettyChannelBuilder builder;
        if (singleAddress != null) {
            builder = NettyChannelBuilder.forTarget(singleAddress);
        } else if (addresses.size() == 1) {
            builder = NettyChannelBuilder.forTarget(addresses.get(0)).defaultLoadBalancingPolicy("round_robin");
        } else {
            builder = NettyChannelBuilder.forTarget(StaticAddressResolver.register(addresses))
                    .defaultLoadBalancingPolicy("round_robin");
        }
        return builder.usePlaintext()
                .keepAliveTime(30, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(true)
                .maxInboundMessageSize(4 * 1024 * 1024)
                .build();
    }
}
