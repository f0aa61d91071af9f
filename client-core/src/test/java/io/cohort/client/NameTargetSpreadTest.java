package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.CallFrame;
import io.cohort.protocol.v1.CallsOpened;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.ReplyFrame;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TcWelcome;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.Attributes;
import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A TC address that is a name over several replicas ({@code dns:///cohort-headless.ns.svc:8091}, a
 * Kubernetes headless service) spreads the client's Calls streams, and so its calls, over every
 * replica the name resolves to.
 *
 * <p>What is covered: the client's side from the resolver's answer on: the one channel with
 * gRPC's round-robin balancer that {@link TcChannels} builds for a target with a scheme, and the
 * four Calls streams {@link TcCallsStreams} opens on it. The name here is resolved by a resolver of
 * this test's own scheme, which hands gRPC three real servers on 127.0.0.1 (three ports); a
 * {@code dns:///} target reaches the same channel and balancer with the addresses gRPC's DNS resolver
 * found ({@code dns:///localhost:port} below goes through it, to one replica). The RM's command streams
 * (one per address {@link RmConnection} resolves the name to) are covered only for a name with one
 * address. What is not: a real DNS answer with several addresses (the machine's resolver cannot be
 * made to give one without editing /etc/hosts), and a name whose answer changes while the client runs.
 */
class NameTargetSpreadTest {

    private static final String SCHEME = "cohort-spread-test";
    private static final Duration WAIT = Duration.ofSeconds(30);

    private final List<Replica> replicas = new ArrayList<>();
    private NameResolverProvider resolver;

    @BeforeEach
    void startReplicas() throws IOException {
        for (int i = 0; i < 3; i++) {
            replicas.add(new Replica());
        }
        List<InetSocketAddress> addresses = replicas.stream().map(r -> new InetSocketAddress("127.0.0.1", r.port()))
                .toList();
        resolver = new FixedNames(addresses);
        NameResolverRegistry.getDefaultRegistry().register(resolver);
    }

    @AfterEach
    void stopReplicas() {
        NameResolverRegistry.getDefaultRegistry().deregister(resolver);
        replicas.forEach(Replica::close);
    }

    @Test
    void theCallsStreamsOfANameTargetReachEveryReplicaItResolvesTo() {
        TcClientConfig config = new TcClientConfig(SCHEME + ":///tc-headless:8091", "spread-test", "",
                WAIT, 1, Duration.ofMillis(10));
        assertThat(TcCallsStreams.streamsFor(config)).isEqualTo(4);
        try (TcClient client = new TcClient(config)) {
            // The first call goes unary and opens the streams beside it.
            assertThat(client.status("127.0.0.1:1:1").getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            // Open on the client's side too (the replica's greeting arrived): until then a call goes unary.
            await(() -> client.openCallsStreams() == 4, "all four Calls streams greeted");

            assertThat(replicas).as("streams per replica: %s", replicas.stream().map(Replica::streams).toList())
                    .allMatch(r -> r.streams() >= 1);
            for (int i = 0; i < 12; i++) {
                client.status("127.0.0.1:1:" + (i + 2));
            }
            assertThat(replicas).as("calls on the streams per replica: %s",
                    replicas.stream().map(r -> r.frames.get()).toList()).allMatch(r -> r.frames.get() >= 1);
        }
    }

    @Test
    void aStreamWhoseReplicaIsDownGoesToTheNextOne() {
        replicas.get(1).close();
        List<Replica> up = List.of(replicas.get(0), replicas.get(2));
        TcClientConfig config = new TcClientConfig(SCHEME + ":///tc-headless:8091", "spread-test", "",
                WAIT, 1, Duration.ofMillis(10));
        try (TcClient client = new TcClient(config)) {
            assertThat(client.status("127.0.0.1:1:1").getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            await(() -> up.stream().mapToInt(Replica::streams).sum() == 4, "all four Calls streams opened on the two up");

            assertThat(up).as("streams per replica up: %s", up.stream().map(Replica::streams).toList())
                    .allMatch(r -> r.streams() >= 1);
        }
    }

    /**
     * Through gRPC's own DNS resolver: {@code dns:///localhost:port} reaches the same lanes (here one
     * replica, all four streams on it), and the RM's command stream, whose replicas {@link RmConnection}
     * resolves itself, one per address the name has.
     */
    @Test
    void aDnsTargetReachesTheSameStreamsAndTheRmsCommandStream() {
        Replica only = replicas.get(0);
        String target = "dns:///localhost:" + only.port();
        TcClientConfig config = new TcClientConfig(target, "spread-test", "", WAIT, 1, Duration.ofMillis(10));
        try (TcClient client = new TcClient(config);
             RmConnection rm = new RmConnection(config, "rm", List.of("bench://spread"), commands -> List.of(), 1)) {
            assertThat(client.status("127.0.0.1:1:1").getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            await(() -> only.streams() == 4, "all four Calls streams opened");
            await(() -> rm.connectedReplicas() == 1, "the RM's command stream welcomed");
            assertThat(only.hellos.get()).isEqualTo(1);
        }
    }

    private static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as(what + " within " + WAIT).isLessThan(deadline);
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
        }
    }

    /** A real gRPC server speaking GetStatus, unary and on the Calls stream; it counts its open streams. */
    private static final class Replica extends TransactionCoordinatorGrpc.TransactionCoordinatorImplBase
            implements AutoCloseable {
        private final Server server;
        private final AtomicInteger open = new AtomicInteger();
        private final AtomicLong frames = new AtomicLong();
        private final AtomicInteger hellos = new AtomicInteger();

        Replica() throws IOException {
            server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(this).build().start();
        }

        int port() {
            return server.getPort();
        }

        int streams() {
            return open.get();
        }

        @Override
        public void getStatus(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
            response.onNext(status(request));
            response.onCompleted();
        }

        private static GlobalStatusResponse status(GlobalRequest request) {
            return GlobalStatusResponse.newBuilder().setXid(request.getXid()).setStatus(GlobalStatusCode.GLOBAL_BEGIN)
                    .build();
        }

        @Override
        public StreamObserver<CallFrame> calls(StreamObserver<ReplyFrame> replies) {
            open.incrementAndGet();
            replies.onNext(ReplyFrame.newBuilder().setOpened(CallsOpened.newBuilder()
                    .setProtocolMinor(Protocol.CALLS_STREAM_MINOR)).build());
            return new StreamObserver<>() {
                @Override
                public void onNext(CallFrame frame) {
                    if (frame.hasGetStatus()) {
                        frames.incrementAndGet();
                        synchronized (replies) {
                            replies.onNext(ReplyFrame.newBuilder().setCallId(frame.getCallId())
                                    .setGlobalStatus(status(frame.getGetStatus())).build());
                        }
                    }
                }

                @Override
                public void onError(Throwable t) {
                    open.decrementAndGet();
                }

                @Override
                public void onCompleted() {
                    open.decrementAndGet();
                    replies.onCompleted();
                }
            };
        }

        @Override
        public StreamObserver<RmMessage> connect(StreamObserver<TcMessage> toRm) {
            return new StreamObserver<>() {
                @Override
                public void onNext(RmMessage message) {
                    if (message.hasHello()) {
                        hellos.incrementAndGet();
                        toRm.onNext(TcMessage.newBuilder().setWelcome(TcWelcome.newBuilder()
                                .setTcAddress("127.0.0.1:" + port())).build());
                    }
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                    toRm.onCompleted();
                }
            };
        }

        @Override
        public void close() {
            server.shutdownNow();
        }
    }

    /** Resolves every name of {@link #SCHEME} to the same fixed addresses, as DNS answers for a headless service. */
    private static final class FixedNames extends NameResolverProvider {
        private final List<InetSocketAddress> addresses;

        FixedNames(List<InetSocketAddress> addresses) {
            this.addresses = addresses;
        }

        @Override
        protected boolean isAvailable() {
            return true;
        }

        @Override
        protected int priority() {
            return 5;
        }

        @Override
        public String getDefaultScheme() {
            return SCHEME;
        }

        @Override
        public Collection<Class<? extends SocketAddress>> getProducedSocketAddressTypes() {
            return List.of(InetSocketAddress.class);
        }

        @Override
        public NameResolver newNameResolver(URI target, NameResolver.Args args) {
            if (!SCHEME.equals(target.getScheme())) {
                return null;
            }
            return new NameResolver() {
                @Override
                public String getServiceAuthority() {
                    return target.getPath().substring(1);
                }

                @Override
                public void start(Listener2 listener) {
                    List<EquivalentAddressGroup> groups = addresses.stream()
                            .map(a -> new EquivalentAddressGroup(a, Attributes.EMPTY)).toList();
                    listener.onResult(ResolutionResult.newBuilder().setAddresses(groups).build());
                }

                @Override
                public void shutdown() {
                }
            };
        }
    }
}
