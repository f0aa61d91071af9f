package io.cohort.tm;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.BeginRequest;
import io.cohort.protocol.v1.BeginResponse;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.protocol.v1.TransactionProtocol;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TC on a real gRPC port that answers the TM's half of cohort.v1 (begin, commit, rollback, status)
 * as a healthy TC does and records every call, in order. It stays because the TM's unit tests assert
 * which calls the TM made and which it did not (a joined participant neither begins nor commits, a
 * SUPPORTS method calls nothing), which the real TC's API does not show. It fails in no way: the
 * failure paths run against the real TC behind a TCP proxy ({@code NetworkFailuresIT}).
 */
public final class RecordingCoordinator extends TransactionCoordinatorGrpc.TransactionCoordinatorImplBase
        implements AutoCloseable {

    /** What the TC did at begin, in the order asked. */
    public record Begun(String xid, String name, long timeoutMs, TransactionProtocol protocol) {
    }

    private final Server server;
    private final AtomicLong sequence = new AtomicLong(1000);
    private final Map<String, GlobalStatus> statuses = new ConcurrentHashMap<>();
    private final List<Begun> begun = new CopyOnWriteArrayList<>();
    private final List<String> calls = new CopyOnWriteArrayList<>();

    public RecordingCoordinator() throws IOException {
        server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(this).build().start();
    }

    public String address() {
        return "127.0.0.1:" + server.getPort();
    }

    public List<Begun> begun() {
        return begun;
    }

    /** "begin <name>", "commit <xid>", "rollback <xid>", "status <xid>" in arrival order. */
    public List<String> calls() {
        return calls;
    }

    public GlobalStatus statusOf(String xid) {
        return statuses.get(xid);
    }

    @Override
    public void begin(BeginRequest request, StreamObserver<BeginResponse> response) {
        calls.add("begin " + request.getName());
        String xid = address() + ":" + sequence.incrementAndGet();
        statuses.put(xid, GlobalStatus.BEGIN);
        begun.add(new Begun(xid, request.getName(), request.getTimeoutMs(), request.getProtocol()));
        response.onNext(BeginResponse.newBuilder().setXid(xid).setTimeoutMs(request.getTimeoutMs())
                .setProtocol(request.getProtocol()).build());
        response.onCompleted();
    }

    @Override
    public void commit(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        end(request.getXid(), "commit", GlobalStatus.COMMITTED, response);
    }

    @Override
    public void rollback(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        end(request.getXid(), "rollback", GlobalStatus.ROLLBACKED, response);
    }

    @Override
    public void getStatus(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        String xid = request.getXid();
        calls.add("status " + xid);
        if (known(xid, response)) {
            answer(response, xid, statuses.get(xid));
        }
    }

    private void end(String xid, String call, GlobalStatus outcome, StreamObserver<GlobalStatusResponse> response) {
        calls.add(call + " " + xid);
        if (known(xid, response)) {
            statuses.computeIfPresent(xid, (k, s) -> s == GlobalStatus.BEGIN ? outcome : s);
            answer(response, xid, statuses.get(xid));
        }
    }

    private boolean known(String xid, StreamObserver<GlobalStatusResponse> response) {
        if (statuses.containsKey(xid)) {
            return true;
        }
        Metadata trailers = new Metadata();
        trailers.put(Protocol.ERROR_CODE_TRAILER, ErrorCode.UNKNOWN_XID.name());
        response.onError(Status.NOT_FOUND.withDescription("unknown XID " + xid).asRuntimeException(trailers));
        return false;
    }

    private static void answer(StreamObserver<GlobalStatusResponse> response, String xid, GlobalStatus status) {
        response.onNext(GlobalStatusResponse.newBuilder().setXid(xid).setStatus(status.toWire()).build());
        response.onCompleted();
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
