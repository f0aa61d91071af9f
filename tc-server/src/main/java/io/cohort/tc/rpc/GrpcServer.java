package io.cohort.tc.rpc;

import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/** The gRPC server on {@code cohort.tc.grpc-port}, started and stopped with the Spring context. */
public final class GrpcServer implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(GrpcServer.class);

    private final CoordinatorGrpcService service;
    private final int port;
    private final int maxRequestBytes;
    private final String authToken;
    private volatile Server server;

    public GrpcServer(CoordinatorGrpcService service, int port, int maxRequestBytes, String authToken) {
        this.service = service;
        this.port = port;
        this.maxRequestBytes = maxRequestBytes;
        this.authToken = authToken;
    }

    @Override
    public void start() {
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(port))
                .maxInboundMessageSize(maxRequestBytes)
                .permitKeepAliveTime(10, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true);
        builder.addService(authToken.isEmpty() ? service.bindService()
                : ServerInterceptors.intercept(service, new AuthInterceptor(authToken)));
        try {
            server = builder.build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start the gRPC server on port " + port
                    + " (cohort.tc.grpc-port): " + e.getMessage(), e);
        }
        log.info("Cohort TC gRPC listening on port {}", server.getPort());
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
