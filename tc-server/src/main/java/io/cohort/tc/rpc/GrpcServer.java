package io.cohort.tc.rpc;

import io.cohort.protocol.PemTls;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.tc.config.TcProperties;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallExecutorSupplier;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.TlsServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/** The gRPC server on {@code cohort.tc.grpc-port}, started and stopped with the Spring context. */
public final class GrpcServer implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(GrpcServer.class);
    /** Headers of one call: the token and a few gRPC headers fit many times over. */
    private static final int MAX_METADATA_BYTES = 16 * 1024;

    private final CoordinatorGrpcService service;
    private final int port;
    private final int maxRequestBytes;
    private final AuthInterceptor authInterceptor;
    private final Executor callExecutor;
    private final TcProperties.Connections limits;
    private final ConnectionLimit connectionLimit;
    private final MalformedRequestGuard malformedRequestGuard;
    private final TcProperties.Tls tls;
    private final ServerCredentials credentials;
    private volatile Server server;
    private EventLoopGroup acceptor;
    private EventLoopGroup workers;

    /**
     * @param callExecutor where calls run: {@code null} runs them on the network threads, which is
     *                     right when nothing in a call blocks (the embedded store answers from memory);
     *                     else every call but the Calls stream's frames, which are read on the
     *                     network threads and handed to it only when they may read (see
     *                     {@link CoordinatorGrpcService#waitsOnNoRead})
     */
    public GrpcServer(CoordinatorGrpcService service, int port, int maxRequestBytes, TcProperties.Auth auth,
                      TcProperties.Tls tls, Executor callExecutor, TcProperties.Connections limits, Clock clock) {
        this.limits = limits;
        this.connectionLimit = new ConnectionLimit(limits.max());
        this.malformedRequestGuard = new MalformedRequestGuard(clock);
        this.authInterceptor = auth.required() ? new AuthInterceptor(auth, clock) : null;
        this.tls = tls;
        this.credentials = credentials(tls);
        this.service = service;
        this.port = port;
        this.maxRequestBytes = maxRequestBytes;
        this.callExecutor = callExecutor;
        service.runFramesOn(callExecutor, limits.maxCallsPerConnection(), maxRequestBytes);
    }

    @Override
    public void start() {
        acceptor = new NioEventLoopGroup(1, daemonThreads("cohort-tc-grpc-accept"));
        workers = new NioEventLoopGroup(0, daemonThreads("cohort-tc-grpc"));
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(port), credentials)
                .channelFactory(connectionLimit::newServerChannel)
                .bossEventLoopGroup(acceptor)
                .workerEventLoopGroup(workers)
                .maxInboundMessageSize(maxRequestBytes)
                .maxInboundMetadataSize(MAX_METADATA_BYTES)
                // A connection that has not finished its HTTP/2 (or TLS) handshake in time is closed.
                .handshakeTimeout(limits.handshakeTimeout().toMillis(), TimeUnit.MILLISECONDS)
                // A connection with no call for this long is closed (clients reconnect when they need to).
                .maxConnectionIdle(limits.idleTimeout().toMillis(), TimeUnit.MILLISECONDS)
                // The TC pings quiet connections and closes those whose peer does not answer.
                .keepAliveTime(limits.keepAliveTime().toMillis(), TimeUnit.MILLISECONDS)
                .keepAliveTimeout(limits.keepAliveTimeout().toMillis(), TimeUnit.MILLISECONDS)
                // Clients may not ping more often than this (our client pings every 30 s); more is a GOAWAY.
                .permitKeepAliveTime(10, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .maxConcurrentCallsPerConnection(limits.maxCallsPerConnection())
                // HTTP/2 "rapid reset": a client that cancels streams faster than this gets a GOAWAY.
                .maxRstFramesPerWindow(limits.maxResetsPerSecond(), 1);
        if (callExecutor == null) {
            builder.directExecutor();
        } else {
            builder.executor(callExecutor);
            // A hand-off to the pool per frame cost the TC 5.0-5.3 context switches per transaction
            // against 1.8 without (bench/MEASUREMENTS.md, "The TC alone").
            String calls = TransactionCoordinatorGrpc.getCallsMethod().getFullMethodName();
            builder.callExecutor(new ServerCallExecutorSupplier() {
                @Override
                public <Q, R> Executor getExecutor(ServerCall<Q, R> call, Metadata headers) {
                    return call.getMethodDescriptor().getFullMethodName().equals(calls) ? Runnable::run : null;
                }
            });
        }
        ServerServiceDefinition guarded = ServerInterceptors.intercept(
                malformedRequestGuard.guard(service.serviceDefinition()), new CallsStream.PeerMinorInterceptor());
        builder.addService(authInterceptor == null ? guarded : ServerInterceptors.intercept(guarded, authInterceptor));
        try {
            server = builder.build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start the gRPC server on port " + port
                    + " (cohort.tc.grpc-port): " + e.getMessage(), e);
        }
        log.info("Cohort TC gRPC listening on port {} ({}, at most {} connections)", server.getPort(),
                tls.enabled() ? "TLS, client certificates: " + tls.clientAuth() : "plaintext", limits.max());
    }

    /**
     * Plaintext, or TLS from PEM files that are re-read when they change: a renewed certificate
     * serves the next handshake, open connections keep theirs.
     */
    private static ServerCredentials credentials(TcProperties.Tls tls) {
        if (!tls.enabled()) {
            return InsecureServerCredentials.create();
        }
        TlsServerCredentials.Builder builder = TlsServerCredentials.newBuilder()
                .keyManager(PemTls.keyManager(tls.certificate(), tls.privateKey(), tls.refreshInterval(), "cohort.tc.tls"));
        if (!tls.clientAuth().equals("none")) {
            builder.trustManager(PemTls.trustManager(tls.clientCa(), tls.refreshInterval(), false, "cohort.tc.tls.client-ca"))
                    .clientAuth(tls.clientAuth().equals("require") ? TlsServerCredentials.ClientAuth.REQUIRE
                            : TlsServerCredentials.ClientAuth.OPTIONAL);
        }
        return builder.build();
    }

    /** Open TCP connections of the gRPC port, and whether it is at its cap (cannot accept one more). */
    public int openConnections() {
        return connectionLimit.open();
    }

    public boolean atConnectionLimit() {
        return connectionLimit.full();
    }

    public int refusedConnections() {
        return connectionLimit.refused();
    }

    private static ThreadFactory daemonThreads(String name) {
        return new DefaultThreadFactory(name, true);
    }

    /** The bound port (useful with cohort.tc.grpc-port=0). */
    public int port() {
        return server.getPort();
    }

    @Override
    public void stop() {
        Server s = server;
        if (s != null) {
            s.shutdown();
            try {
                if (!s.awaitTermination(5, TimeUnit.SECONDS)) {
                    s.shutdownNow();
                }
            } catch (InterruptedException e) {
                s.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
        if (callExecutor instanceof ExecutorService pool) {
            pool.shutdown();
        }
        if (acceptor != null) {
            acceptor.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }

    @Override
    public boolean isRunning() {
        return server != null && !server.isShutdown();
    }

    @Override
    public int getPhase() {
        // Start after the store and coordinator beans exist, stop before them.
        return Integer.MAX_VALUE - 100;
    }
}
