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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TC test double on a real gRPC port that speaks the TM's half of cohort.v1 (begin, commit,
 * rollback, status), records what it was asked, times transactions out like the TC, and can be
 * told to fail in ways a healthy TC cannot be made to: no answer to commit, a refusal, an odd status.
 * Tests of the real TC's behaviour run against tc-server; this one exercises the TM's failure paths.
 */
public final class ScriptedCoordinator extends TransactionCoordinatorGrpc.TransactionCoordinatorImplBase
        implements AutoCloseable {

    /** What the TC did at begin, in the order asked. */
    public record Begun(String xid, String name, long timeoutMs, TransactionProtocol protocol) {
    }

    private final Server server;
    private final AtomicLong sequence = new AtomicLong(1000);
    private final Map<String, GlobalStatus> statuses = new ConcurrentHashMap<>();
    private final Map<String, Long> deadlines = new ConcurrentHashMap<>();
    private final List<Begun> begun = new CopyOnWriteArrayList<>();
    private final List<String> calls = new CopyOnWriteArrayList<>();
    private final AtomicInteger unansweredCommits = new AtomicInteger();
    private final AtomicInteger unansweredRollbacks = new AtomicInteger();
    private volatile ErrorCode commitRefusal;

    public ScriptedCoordinator() throws IOException {
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

    /** The next {@code n} commits get no answer (UNAVAILABLE, as when the TC is unreachable). */
    public void dropCommits(int n) {
        unansweredCommits.set(n);
    }

    public void dropRollbacks(int n) {
        unansweredRollbacks.set(n);
    }

    /** Commits are refused with this error code (and the transaction is rolled back, as a timed-out one is). */
    public void refuseCommits(ErrorCode code) {
        commitRefusal = code;
    }

    /** Ends a transaction as the TC's timeout check would. */
    public void timeOut(String xid) {
        statuses.put(xid, GlobalStatus.TIMEOUT_ROLLBACKED);
    }

    @Override
    public void begin(BeginRequest request, StreamObserver<BeginResponse> response) {
        calls.add("begin " + request.getName());
        String xid = address() + ":" + sequence.incrementAndGet();
        statuses.put(xid, GlobalStatus.BEGIN);
        deadlines.put(xid, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(request.getTimeoutMs()));
        begun.add(new Begun(xid, request.getName(), request.getTimeoutMs(), request.getProtocol()));
        response.onNext(BeginResponse.newBuilder().setXid(xid).setTimeoutMs(request.getTimeoutMs())
                .setProtocol(request.getProtocol()).build());
        response.onCompleted();
    }

    @Override
    public void commit(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        String xid = request.getXid();
        calls.add("commit " + xid);
        if (unansweredCommits.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            response.onError(Status.UNAVAILABLE.withDescription("scripted: no answer").asRuntimeException());
            return;
        }
        if (!known(xid, response)) {
            return;
        }
        expire(xid);
        if (commitRefusal != null) {
            statuses.put(xid, GlobalStatus.TIMEOUT_ROLLBACKED);
            refuse(response, Status.FAILED_PRECONDITION, commitRefusal, "scripted refusal of commit of " + xid);
            return;
        }
        statuses.computeIfPresent(xid, (k, s) -> s == GlobalStatus.BEGIN ? GlobalStatus.COMMITTED : s);
        answer(response, xid, statuses.get(xid));
    }

    @Override
    public void rollback(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        String xid = request.getXid();
        calls.add("rollback " + xid);
        if (unansweredRollbacks.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            response.onError(Status.UNAVAILABLE.withDescription("scripted: no answer").asRuntimeException());
            return;
        }
        if (!known(xid, response)) {
            return;
        }
        statuses.computeIfPresent(xid, (k, s) -> s == GlobalStatus.BEGIN ? GlobalStatus.ROLLBACKED : s);
        answer(response, xid, statuses.get(xid));
    }

    @Override
    public void getStatus(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
        String xid = request.getXid();
        calls.add("status " + xid);
        if (known(xid, response)) {
            expire(xid);
            answer(response, xid, statuses.get(xid));
        }
    }

    private void expire(String xid) {
        if (statuses.get(xid) == GlobalStatus.BEGIN && System.nanoTime() > deadlines.get(xid)) {
            statuses.put(xid, GlobalStatus.TIMEOUT_ROLLBACKED);
        }
    }

    private boolean known(String xid, StreamObserver<GlobalStatusResponse> response) {
        if (statuses.containsKey(xid)) {
            return true;
        }
        refuse(response, Status.NOT_FOUND, ErrorCode.UNKNOWN_XID, "unknown XID " + xid);
        return false;
    }

    private static void refuse(StreamObserver<?> response, Status status, ErrorCode code, String description) {
        Metadata trailers = new Metadata();
        trailers.put(Protocol.ERROR_CODE_TRAILER, code.name());
        response.onError(status.withDescription(description).asRuntimeException(trailers));
    }

    private static void answer(StreamObserver<GlobalStatusResponse> response, String xid, GlobalStatus status) {
        String reason = status == GlobalStatus.TIMEOUT_ROLLBACKED ? "timed out before commit" : "";
        response.onNext(GlobalStatusResponse.newBuilder().setXid(xid).setStatus(status.toWire()).setReason(reason).build());
        response.onCompleted();
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
