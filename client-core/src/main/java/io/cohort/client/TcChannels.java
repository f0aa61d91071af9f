package io.cohort.client;

import io.cohort.protocol.PemTls;
import io.grpc.ChannelCredentials;
import io.grpc.ClientTransportFilter;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/** Builds gRPC channels to the TC: one target, a list of replicas, or a DNS name over all replicas. */
final class TcChannels {

    /**
     * One set of reloading key and trust managers per TLS configuration in the process: the TM, the
     * RM streams and every probe share them, and the files are watched once.
     */
    private static final Map<TcTls, ChannelCredentials> CREDENTIALS = new ConcurrentHashMap<>();

    private TcChannels() {
    }

    /**
     * One channel over every listed address: a single {@code host:port} is used as is, a
     * {@code dns:///} (or other scheme) target resolves to every replica, and a list is balanced
     * round-robin through a static resolver. {@code singleAddress} pins the channel to one replica;
     * {@code hostName}, when not null, is the name the TC's certificate must carry instead of the
     * dialled one (a replica dialled by the IP its DNS name resolved to). {@code onNetworkThreads}: the
     * callbacks of its calls run on gRPC's network threads instead of hopping to an executor, for a
     * caller whose callbacks never block.
     */
    static ManagedChannel open(List<String> addresses, String singleAddress, TcTls tls, String hostName,
                               boolean onNetworkThreads) {
        return open(addresses, singleAddress, tls, hostName, onNetworkThreads, -1, null);
    }

    /**
     * The channel of one Calls stream, {@code lane}: over every listed (or resolved) replica like
     * {@link #open}, but connected to one of them at a time, replica {@code lane mod n} while it
     * answers ({@link LaneLoadBalancer}), so a client's streams spread over the replicas.
     */
    static ManagedChannel openLane(List<String> addresses, TcTls tls, int lane) {
        return open(addresses, null, tls, null, false, lane, null);
    }

    /**
     * The channel of a {@link TcClient}: over every listed (or resolved) replica like {@link #open},
     * its connection attempts watched by {@code reconnects}.
     */
    static ManagedChannel openForClient(List<String> addresses, TcTls tls, ReconnectForWaitingCalls reconnects) {
        ManagedChannel channel = open(addresses, null, tls, null, false, -1, reconnects);
        reconnects.attach(channel);
        return channel;
    }

    private static ManagedChannel open(List<String> addresses, String singleAddress, TcTls tls, String hostName,
                                       boolean onNetworkThreads, int lane, ClientTransportFilter filter) {
        ChannelCredentials credentials = CREDENTIALS.computeIfAbsent(tls, TcChannels::credentials);
        NettyChannelBuilder builder;
        if (singleAddress != null) {
            builder = NettyChannelBuilder.forTarget(singleAddress, credentials);
        } else if (addresses.size() == 1) {
            builder = NettyChannelBuilder.forTarget(addresses.get(0), credentials);
        } else {
            builder = NettyChannelBuilder.forTarget(StaticAddressResolver.register(addresses,
                    tls.serverName().isEmpty() ? null : tls.serverName()), credentials);
        }
        if (singleAddress == null && lane >= 0) {
            builder.defaultServiceConfig(LaneLoadBalancer.serviceConfig(lane));
        } else if (singleAddress == null) {
            builder.defaultLoadBalancingPolicy("round_robin");
        }
        String authority = !tls.serverName().isEmpty() ? tls.serverName() : hostName;
        if (tls.enabled() && authority != null) {
            builder.overrideAuthority(authority);
        }
        if (onNetworkThreads) {
            builder.directExecutor();
        }
        if (filter != null) {
            builder.addTransportFilter(filter);
        }
        return builder.keepAliveTime(30, TimeUnit.SECONDS)
                .keepAliveWithoutCalls(true)
                .maxInboundMessageSize(4 * 1024 * 1024)
                .build();
    }

    static ManagedChannel open(List<String> addresses, String singleAddress, TcTls tls) {
        return open(addresses, singleAddress, tls, null, false);
    }

    private static ChannelCredentials credentials(TcTls tls) {
        if (!tls.enabled()) {
            return InsecureChannelCredentials.create();
        }
        TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
        if (tls.trustCa() != null) {
            builder.trustManager(PemTls.trustManager(tls.trustCa(), tls.refreshInterval(), true, "cohort.tc.tls.trust-ca"));
        }
        if (tls.certificate() != null) {
            builder.keyManager(PemTls.keyManager(tls.certificate(), tls.privateKey(), tls.refreshInterval(), "cohort.tc.tls"));
        }
        return builder.build();
    }
}
