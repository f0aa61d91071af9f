package io.cohort.client;

import io.cohort.protocol.v1.BeginRequest;
import io.cohort.protocol.v1.BeginResponse;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TcWelcome;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real gRPC server on a real port speaking the TC's API, just enough of it for the client's
 * connection behaviour: Begin, GetStatus (optionally slower than the client's deadline) and the RM's
 * command stream (a welcome for every hello). It can be stopped and started again on the same port,
 * as a TC that is killed and restarted.
 */
final class TestTcServer implements AutoCloseable {

    private final int port;
    private final AtomicLong xids = new AtomicLong();
    private final AtomicLong statusCalls = new AtomicLong();
    private final AtomicLong commandStreams = new AtomicLong();
    private volatile Duration answerDelay = Duration.ZERO;
    /** The protocol minor Begin answers with: 0 like a TC from before minor 8. */
    private volatile int minor;
    private volatile Metadata lastHeaders;
    private Server server;
    /** Servers shut down gracefully ({@link #drain}) and still finishing their calls. */
    private final List<Server> draining = new ArrayList<>();

    private TestTcServer(int port) {
        this.port = port;
    }

    static TestTcServer start() {
        return new TestTcServer(freePort()).restart();
    }

    /** A server on a given port (one the test freed for it). */
    static TestTcServer onPort(int port) {
        return new TestTcServer(port).restart();
    }

    String address() {
        return "127.0.0.1:" + port;
    }

    int port() {
        return port;
    }

    /** The metadata of the last unary call received. */
    Metadata lastHeaders() {
        return lastHeaders;
    }

    /** GetStatus calls received so far. */
    long statusCalls() {
        return statusCalls.get();
    }

    /** RM command streams opened so far. */
    long commandStreamsOpened() {
        return commandStreams.get();
    }

    /** Answers Begin as a TC of this protocol minor (its XIDs tagged, as such a TC's are). */
    void speakMinor(int minor) {
        this.minor = minor;
    }

    /** Every unary answer comes this much later (a TC that accepts connections but is too slow). */
    void answerAfter(Duration delay) {
        answerDelay = delay;
    }

    TestTcServer restart() {
        try {
            server = NettyServerBuilder.forPort(port)
                    // The port's earlier connections may still be in TIME_WAIT.
                    .withOption(ChannelOption.SO_REUSEADDR, true)
                    .addService(ServerInterceptors.intercept(new Service(), new ServerInterceptor() {
                        @Override
                        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                                           ServerCallHandler<Q, R> next) {
                            // The Calls stream a client opens beside its first unary call carries no trace in its
                            // headers (traces travel per frame) and may arrive after that call's.
                            if (call.getMethodDescriptor().getType() == MethodDescriptor.MethodType.UNARY) {
                                lastHeaders = headers;
                            }
                            return next.startCall(call, headers);
                        }
                    }))
                    .build()
                    .start();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot listen on " + port, e);
        }
        return this;
    }

    /** Like a killed TC: every connection is dropped at once. */
    void stop() {
        server.shutdownNow();
        try {
            if (!server.awaitTermination(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("gRPC server on " + port + " did not stop within 10 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * Like a TC shut down gracefully: it stops listening and says so to its clients (HTTP/2 GOAWAY),
     * but a connection stays up until its last open call ends. {@link #restart} may listen again meanwhile.
     */
    void drain() {
        server.shutdown();
        draining.add(server);
    }

    @Override
    public void close() {
        draining.forEach(Server::shutdownNow);
        if (server != null && !server.isTerminated()) {
            stop();
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private final class Service extends TransactionCoordinatorGrpc.TransactionCoordinatorImplBase {

        @Override
        public void begin(BeginRequest request, StreamObserver<BeginResponse> response) {
            delay();
            String xid = minor == 0 ? address() + ":" + xids.incrementAndGet()
                    : address() + ":0123456789abcdef:" + xids.incrementAndGet();
            response.onNext(BeginResponse.newBuilder().setXid(xid).setTimeoutMs(request.getTimeoutMs())
                    .setProtocolMinor(minor).build());
            response.onCompleted();
        }

        @Override
        public void getStatus(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
            statusCalls.incrementAndGet();
            delay();
            response.onNext(GlobalStatusResponse.newBuilder().setXid(request.getXid())
                    .setStatus(GlobalStatusCode.GLOBAL_BEGIN).build());
            response.onCompleted();
        }

        @Override
        public StreamObserver<RmMessage> connect(StreamObserver<TcMessage> toRm) {
            commandStreams.incrementAndGet();
            return new StreamObserver<>() {
                @Override
                public void onNext(RmMessage message) {
                    if (message.hasHello()) {
                        toRm.onNext(TcMessage.newBuilder().setWelcome(TcWelcome.newBuilder()
                                .setTcAddress(address())).build());
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

        private void delay() {
            long ms = answerDelay.toMillis();
            if (ms > 0) {
                try {
                    Thread.sleep(ms); // the slow TC itself, not a wait in a test
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
