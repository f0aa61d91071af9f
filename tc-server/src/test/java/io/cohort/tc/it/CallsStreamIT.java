package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.client.TcUnavailableException;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.CallFrame;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.ReplyFrame;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.rpc.CoordinatorGrpcService;
import io.cohort.testsupport.TcpProxy;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.stub.MetadataUtils;
import io.cohort.tc.coordinator.Coordinator;
import io.cohort.tc.rpc.BranchDispatcher;
import java.time.Clock;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/**
 * The Calls stream (protocol minor 9) against a real TC: every call kind fails on the stream with
 * what its unary call fails with, auth, the connection limit and the malformed-request guard apply
 * to the stream, deadlines are the client's, a broken stream fails its calls as unavailable (and
 * the idempotent ones are retried), and a TC without the RPC gets unary calls for good. Minor 10
 * (several calls or answers per message) against peers of minor 9, both ways.
 */
@ExtendWith(OutputCaptureExtension.class)
class CallsStreamIT {

    static final String TOKEN = "calls-stream-token";
    static final String R1 = "jdbc:postgresql://db1/calls_a";
    static final String R2 = "jdbc:postgresql://db2/calls_b";
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    static Path dataDir;
    static TcTestServer tc;
    static TestRm rm;

    @BeforeAll
    static void startTc() {
        tc = new TcTestServer(Map.of("cohort.tc.store.embedded.dir", dataDir.toString(),
                "cohort.tc.auth.token", TOKEN,
                "cohort.tc.auth.clients.bank-a.token", "bank-a-token",
                "cohort.tc.auth.clients.bank-a.resources", R1));
        rm = new TestRm(config(tc.grpcAddress(), TOKEN, 1), "rm-calls", List.of(R1, R2));
    }

    @AfterAll
    static void stopTc() {
        rm.close();
        tc.close();
    }

    static TcClientConfig config(String address, String token, int attempts) {
        return new TcClientConfig(address, "calls-it", token, CALL_TIMEOUT, attempts, Duration.ofMillis(100));
    }

    /** A client whose Calls stream is open (its first call went unary and opened it). */
    static TcClient streamClient(TcClientConfig config) {
        TcClient client = new TcClient(config);
        CoordinatorScenarios.await(() -> {
            try {
                client.status("cohort:none:" + System.nanoTime());
            } catch (TcUnavailableException notYet) {
                return false;
            } catch (TcException unknownXid) {
                // answered: the TC is there
            }
            return client.callsStreamOpen();
        }, () -> "the Calls stream to open");
        return client;
    }

    static <T> TcException failure(TcClient client, Function<TcClient, T> call) {
        return assertThrows(TcException.class, () -> call.apply(client));
    }

    @Test
    void everyKindOfRefusalIsTheSameOnTheStreamAsUnary() {
        try (TcClient unary = new TcClient(config(tc.grpcAddress(), TOKEN, 1).withCallsStream(false));
             TcClient stream = streamClient(config(tc.grpcAddress(), TOKEN, 1));
             TcClient bankA = streamClient(config(tc.grpcAddress(), "bank-a-token", 1))) {
            String active = unary.begin("calls", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
            String committed = unary.begin("calls", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
            unary.registerBranch(committed, R1, List.of("account:1"), new byte[0], "rm-calls");
            assertThat(unary.commit(committed).getStatus()).isIn(GlobalStatusCode.GLOBAL_COMMITTED,
                    GlobalStatusCode.GLOBAL_ASYNC_COMMITTING, GlobalStatusCode.GLOBAL_COMMITTING);
            // Its refusal names its status: wait for the last one, so that both paths see the same.
            CoordinatorScenarios.await(() -> unary.status(committed).getStatus() == GlobalStatusCode.GLOBAL_COMMITTED,
                    () -> committed + " to finish its phase 2");
            List<Function<TcClient, ?>> calls = List.of(
                    c -> c.status("cohort:unknown:1"),                                               // NOT_FOUND
                    c -> c.commit("cohort:unknown:2"),
                    c -> c.rollback("cohort:unknown:3"),
                    c -> c.begin("x".repeat(300), Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE), // INVALID_ARGUMENT
                    c -> c.registerBranch(committed, R1, List.of("account:2"), new byte[0], "rm-calls"), // not active
                    c -> c.registerBranch(active, "jdbc:nobody/announced", List.of("t:1"), new byte[0], "rm-calls"),
                    c -> c.registerBranch(active, R1, List.of("t:1"), new byte[70_000], "rm-calls"),         // too large
                    // Past the TC's largest message (cohort.tc.max-request-bytes): over the stream, such a frame
                    // would end the stream and every call on it; it goes unary and is refused alone.
                    c -> c.registerBranch(active, R1, List.of("t:1"), new byte[2 * 1024 * 1024], "rm-calls"), // RESOURCE_EXHAUSTED
                    c -> c.reportBranch(active, 987654321L, BranchStatusCode.BRANCH_PHASE1_FAILED, "x", false), // unknown branch
                    c -> c.markRollbackOnly(active, "", "no resource"),
                    c -> c.queryLocks("", List.of("t:1"), null));
            for (Function<TcClient, ?> call : calls) {
                TcException overUnary = failure(unary, call);
                TcException overStream = failure(stream, call);
                assertThat(stream.callsStreamOpen()).as("stream still open after %s", overStream.getMessage()).isTrue();
                assertThat(overStream).as("on the stream").hasSameClassAs(overUnary)
                        .hasMessage(overUnary.getMessage());
                assertThat(overStream.errorCode()).isEqualTo(overUnary.errorCode());
                assertThat(overStream.isRetriable()).isEqualTo(overUnary.isRetriable());
            }
            // A restricted service may not act for a resource it does not serve: PERMISSION_DENIED, as unary.
            try (TcClient bankAUnary = new TcClient(config(tc.grpcAddress(), "bank-a-token", 1).withCallsStream(false))) {
                Function<TcClient, ?> denied = c -> c.registerBranch(active, R2, List.of("t:9"), new byte[0], "rm-calls");
                TcException overUnary = failure(bankAUnary, denied);
                TcException overStream = failure(bankA, denied);
                assertThat(overUnary.errorCode()).isEqualTo(ErrorCode.PERMISSION_DENIED);
                assertThat(overStream).hasSameClassAs(overUnary).hasMessage(overUnary.getMessage());
                assertThat(bankA.callsStreamOpen()).isTrue();
            }
            // And the answers themselves travel on the stream.
            RegisterBranchResponse registered = stream.registerBranch(active, R1, List.of("account:3"), new byte[0],
                    "rm-calls");
            assertThat(registered.hasBranchId()).isTrue();
            assertThat(stream.rollback(active).getXid()).isEqualTo(active);
            assertThat(stream.callsStreamOpen()).isTrue();
        }
    }

    @Test
    void aClientWithoutAValidTokenIsRefusedOnTheStreamAsUnaryAndItsCallsFailTheSame() {
        try (TcClient unary = new TcClient(config(tc.grpcAddress(), "wrong", 1).withCallsStream(false));
             TcClient stream = new TcClient(config(tc.grpcAddress(), "wrong", 1))) {
            for (int i = 0; i < 3; i++) {
                TcException overUnary = failure(unary, c -> c.status("cohort:any:1"));
                TcException overStream = failure(stream, c -> c.status("cohort:any:1"));
                assertThat(overUnary.errorCode()).isEqualTo(ErrorCode.UNAUTHENTICATED);
                assertThat(overStream).hasSameClassAs(overUnary).hasMessage(overUnary.getMessage());
            }
            assertThat(stream.callsStreamOpen()).isFalse();
        }
        // The raw stream without a token is closed with UNAUTHENTICATED and the trailer.
        ManagedChannel channel = NettyChannelBuilder.forTarget(tc.grpcAddress()).usePlaintext().build();
        try {
            RawStream raw = RawStream.open(channel, TransactionCoordinatorGrpc.getCallsMethod());
            raw.call.sendMessage(CallFrame.newBuilder().setCallId(1).setGetStatus(GlobalRequest.newBuilder()
                    .setXid("cohort:any:1")).build());
            StreamEnd end = raw.end();
            assertThat(end.status.getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThat(end.trailers.get(Protocol.ERROR_CODE_TRAILER)).isEqualTo("UNAUTHENTICATED");
            assertThat(raw.replies).isEmpty();
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    void aMalformedFrameClosesTheStreamWithInvalidArgumentATrailerAndAOneLineWarning(CapturedOutput output) {
        ManagedChannel plain = NettyChannelBuilder.forTarget(tc.grpcAddress()).usePlaintext().build();
        Metadata token = new Metadata();
        token.put(Protocol.AUTHORIZATION, "Bearer " + TOKEN);
        Channel channel = ClientInterceptors.intercept(plain, MetadataUtils.newAttachHeadersInterceptor(token));
        try {
            int before = output.getOut().length();
            MethodDescriptor<byte[], byte[]> rawCalls = TransactionCoordinatorGrpc.getCallsMethod().toBuilder(
                    SecurityIT.BYTES, SecurityIT.BYTES).build();
            for (int i = 0; i < 50; i++) {
                RawStream raw = RawStream.open(channel, rawCalls);
                raw.call.sendMessage(new byte[]{(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) i});
                StreamEnd end = raw.end();
                assertThat(end.status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(end.trailers.get(Protocol.ERROR_CODE_TRAILER)).isEqualTo("INVALID_REQUEST");
            }
            // A well-formed frame without a call id: the same refusal.
            RawStream raw = RawStream.open(channel, TransactionCoordinatorGrpc.getCallsMethod());
            raw.call.sendMessage(CallFrame.newBuilder().setGetStatus(GlobalRequest.newBuilder().setXid("x")).build());
            StreamEnd end = raw.end();
            assertThat(end.status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(end.status.getDescription()).contains("no call_id");
            // A batch within a batch: the same refusal, and the call after it in the batch is not served.
            raw = RawStream.open(channel, TransactionCoordinatorGrpc.getCallsMethod());
            raw.call.sendMessage(CallFrame.newBuilder()
                    .addBatch(CallFrame.newBuilder().addBatch(statusFrame(1, "cohort:none:1")))
                    .addBatch(statusFrame(2, "cohort:none:2")).build());
            end = raw.end();
            assertThat(end.status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
            assertThat(end.status.getDescription()).contains("holds another batch");
            assertThat(raw.replies).isEmpty();
            String log = output.getOut().substring(before);
            assertThat(log).doesNotContain("\tat ").doesNotContain("ERROR");
            assertThat(log.lines().filter(l -> l.contains("not a valid protobuf")).count()).isBetween(1L, 40L);
        } finally {
            plain.shutdownNow();
        }
    }

    @Test
    void theConnectionLimitHoldsForTheStreamAsForUnaryCalls(@TempDir Path dir) {
        try (TcTestServer small = new TcTestServer(Map.of("cohort.tc.store.embedded.dir", dir.toString(),
                "cohort.tc.connections.max", 1));
             TcClient second = new TcClient(config(small.grpcAddress(), "", 1))) {
            TcClient first = streamClient(config(small.grpcAddress(), "", 1));
            // The first client's one connection carries its stream and takes the only slot: the second gets none.
            TcException refused = failure(second, c -> c.status("cohort:any:1"));
            assertThat(refused).isInstanceOf(TcUnavailableException.class);
            assertThat(second.callsStreamOpen()).isFalse();
            assertThat(failure(first, c -> c.status("cohort:any:2")).errorCode()).isEqualTo(ErrorCode.UNKNOWN_XID);
            assertThat(first.callsStreamOpen()).isTrue();
            // Once the slot is free the second client connects, and its stream opens on that connection.
            first.close();
            CoordinatorScenarios.await(() -> {
                try {
                    second.status("cohort:any:3");
                } catch (TcUnavailableException notYet) {
                    return false;
                } catch (TcException unknownXid) {
                    // answered
                }
                return second.callsStreamOpen();
            }, () -> "the second client's stream to open once the first client left");
        }
    }

    @Test
    void aCallWithoutAnAnswerWithinItsDeadlineFailsAsUnavailableAndTheStreamStaysUsable() throws Exception {
        try (TcpProxy proxy = new TcpProxy("127.0.0.1", port(tc.grpcAddress()))) {
            Duration shortTimeout = Duration.ofSeconds(1);
            TcClientConfig config = new TcClientConfig(proxy.address(), "calls-it", TOKEN, shortTimeout, 1,
                    Duration.ofMillis(100));
            try (TcClient client = streamClient(config)) {
                proxy.pauseFor(shortTimeout.multipliedBy(3));
                long started = System.nanoTime();
                TcException late = failure(client, c -> c.begin("late", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE));
                assertThat(late).isInstanceOf(TcUnavailableException.class).hasMessageContaining("DEADLINE_EXCEEDED");
                assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThanOrEqualTo(shortTimeout);
                // The held bytes are delivered: the stream lives on, and the next call is answered on it.
                CoordinatorScenarios.await(() -> {
                    try {
                        return client.begin("after", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE) != null
                                && client.callsStreamOpen();
                    } catch (TcUnavailableException stillPaused) {
                        return false;
                    }
                }, () -> "a call answered on the stream after the pause");
            }
        }
    }

    @Test
    void aStreamThatBreaksFailsItsCallsAsUnavailableRetriesTheIdempotentOnesAndReopens() throws Exception {
        try (TcpProxy proxy = new TcpProxy("127.0.0.1", port(tc.grpcAddress()));
             TcClient tm = new TcClient(config(tc.grpcAddress(), TOKEN, 1))) {
            TcClientConfig config = config(proxy.address(), TOKEN, 5);
            try (TcClient client = streamClient(config)) {
                String xid = tm.begin("break", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
                // Calls in flight: the proxy holds their frames until it breaks the connection.
                proxy.pauseFor(CALL_TIMEOUT.multipliedBy(3));
                CompletableFuture<GlobalStatusCode> status = CompletableFuture.supplyAsync(() -> client.status(xid).getStatus());
                CompletableFuture<String> begin = CompletableFuture.supplyAsync(
                        () -> client.begin("never-retried", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE));
                awaitWaitingThreads(2);
                proxy.cut();
                proxy.heal();
                // Status is retried (over unary while the stream reopens) and answered; begin is not retried.
                assertThat(status.get(CALL_TIMEOUT.toMillis() * 3, TimeUnit.MILLISECONDS)).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
                Throwable beginFailure = assertThrows(Exception.class,
                        () -> begin.get(CALL_TIMEOUT.toMillis() * 3, TimeUnit.MILLISECONDS)).getCause();
                assertThat(beginFailure).isInstanceOf(TcUnavailableException.class).hasMessageContaining("Calls stream");
                CoordinatorScenarios.await(() -> {
                    client.status(xid);
                    return client.callsStreamOpen();
                }, () -> "the Calls stream to reopen");
                assertThat(client.rollback(xid).getXid()).isEqualTo(xid);
            }
        }
    }

    @Test
    void aTcWithoutTheCallsRpcGetsUnaryCallsForGood() throws Exception {
        // An older TC: the real service without the Calls method, so the stream is UNIMPLEMENTED.
        CoordinatorGrpcService service = new CoordinatorGrpcService(tc.bean(Coordinator.class),
                tc.bean(BranchDispatcher.class), Clock.systemUTC());
        ServerServiceDefinition full = service.bindService();
        ServerServiceDefinition.Builder older = ServerServiceDefinition.builder(full.getServiceDescriptor().getName());
        for (ServerMethodDefinition<?, ?> method : full.getMethods()) {
            if (!method.getMethodDescriptor().getBareMethodName().equals("Calls")) {
                older.addMethod(method);
            }
        }
        AtomicInteger callsAttempts = new AtomicInteger();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(older.build())
                .fallbackHandlerRegistry(new io.grpc.HandlerRegistry() {
                    @Override
                    public ServerMethodDefinition<?, ?> lookupMethod(String method, String authority) {
                        if (method.endsWith("/Calls")) {
                            callsAttempts.incrementAndGet();
                        }
                        return null;
                    }
                })
                .build().start();
        try (TcClient client = new TcClient(config("127.0.0.1:" + server.getPort(), "", 1))) {
            String xid = client.begin("older", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
            CoordinatorScenarios.await(() -> callsAttempts.get() >= 1, () -> "the client to try the Calls stream");
            // For three times the reopen backoff, every call is answered, unary, and the stream is not tried again.
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            while (System.nanoTime() < until) {
                assertThat(client.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
                assertThat(client.callsStreamOpen()).isFalse();
            }
            assertThat(callsAttempts.get()).isEqualTo(1);
            assertThat(client.rollback(xid).getXid()).isEqualTo(xid);
        } finally {
            server.shutdownNow();
        }
    }

    @Test
    void anOlderClientSendingOneCallPerMessageGetsOneAnswerPerMessage() throws Exception {
        String xid;
        try (TcClient tm = new TcClient(config(tc.grpcAddress(), TOKEN, 1))) {
            xid = tm.begin("older-client", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
        }
        ManagedChannel plain = NettyChannelBuilder.forTarget(tc.grpcAddress()).usePlaintext().build();
        try {
            // A client of minor 9 sends no cohort-calls-minor header and one call per message.
            RawStream<CallFrame> older = RawStream.open(authorized(plain), TransactionCoordinatorGrpc.getCallsMethod());
            for (int id = 1; id <= 20; id++) {
                older.call.sendMessage(statusFrame(id, xid));
            }
            // Even calls that arrive together (answered on one thread, at once) are answered one per message.
            older.call.sendMessage(CallFrame.newBuilder().addAllBatch(statusFrames(21, 20, xid)).build());
            List<ReplyFrame> messages = older.awaitReplies(40);
            assertThat(messages).allSatisfy(m -> {
                assertThat(m.getBatchCount()).isZero();
                assertThat(m.getReplyCase()).isEqualTo(ReplyFrame.ReplyCase.GLOBAL_STATUS);
                assertThat(m.getGlobalStatus().getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            });
            assertThat(messages).extracting(ReplyFrame::getCallId).containsExactlyInAnyOrderElementsOf(
                    java.util.stream.LongStream.rangeClosed(1, 40).boxed().toList());

            // The same calls from a client that says minor 10: their answers come in one message.
            Metadata minor10 = new Metadata();
            minor10.put(Protocol.CALLS_MINOR_HEADER, Integer.toString(Protocol.CALLS_BATCH_MINOR));
            RawStream<CallFrame> newer = RawStream.open(ClientInterceptors.intercept(authorized(plain),
                    MetadataUtils.newAttachHeadersInterceptor(minor10)), TransactionCoordinatorGrpc.getCallsMethod());
            newer.call.sendMessage(CallFrame.newBuilder().addAllBatch(statusFrames(1, 20, xid)).build());
            List<ReplyFrame> batched = newer.awaitReplies(1);
            assertThat(batched.get(0).getBatchList()).extracting(ReplyFrame::getCallId).containsExactlyElementsOf(
                    java.util.stream.LongStream.rangeClosed(1, 20).boxed().toList());
            older.call.halfClose();
            newer.call.halfClose();
            assertThat(older.end().status.isOk()).isTrue();
            assertThat(newer.end().status.isOk()).isTrue();
        } finally {
            plain.shutdownNow();
        }
    }

    @Test
    void aClientSendsOneCallPerMessageToATcOfMinor9() throws Exception {
        // The real service behind a TC that greets with minor 9 and ignores cohort-calls-minor, as a TC of minor 9
        // does; every message it receives is recorded.
        CoordinatorGrpcService service = new CoordinatorGrpcService(tc.bean(Coordinator.class),
                tc.bean(BranchDispatcher.class), Clock.systemUTC());
        List<CallFrame> received = java.util.Collections.synchronizedList(new ArrayList<>());
        ServerInterceptor minor9 = new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                              ServerCallHandler<Q, R> next) {
                ServerCall<Q, R> greetsAs9 = new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
                    @Override
                    @SuppressWarnings("unchecked")
                    public void sendMessage(R message) {
                        if (message instanceof ReplyFrame reply && reply.hasOpened()) {
                            message = (R) reply.toBuilder().setOpened(reply.getOpened().toBuilder()
                                    .setProtocolMinor(Protocol.CALLS_STREAM_MINOR)).build();
                        }
                        super.sendMessage(message);
                    }
                };
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(
                        next.startCall(greetsAs9, headers)) {
                    @Override
                    public void onMessage(Q message) {
                        if (message instanceof CallFrame frame) {
                            received.add(frame);
                        }
                        super.onMessage(message);
                    }
                };
            }
        };
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                .addService(ServerInterceptors.intercept(service.bindService(), minor9)).build().start();
        try (TcClient client = streamClient(config("127.0.0.1:" + server.getPort(), "", 1))) {
            String xid = client.begin("minor-9", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
            TcClient.CallsStreamTraffic before = client.callsStreamTraffic();
            List<CompletableFuture<GlobalStatusCode>> calls = new ArrayList<>();
            ExecutorService callers = Executors.newFixedThreadPool(16);
            try {
                for (int i = 0; i < 400; i++) {
                    calls.add(CompletableFuture.supplyAsync(() -> client.status(xid).getStatus(), callers));
                }
                for (CompletableFuture<GlobalStatusCode> call : calls) {
                    assertThat(call.get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS))
                            .isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
                }
            } finally {
                callers.shutdownNow();
            }
            TcClient.CallsStreamTraffic after = client.callsStreamTraffic();
            assertThat(after.framesSent() - before.framesSent()).isEqualTo(400);
            assertThat(after.messagesSent() - before.messagesSent()).isEqualTo(400);
            assertThat(received).noneMatch(frame -> frame.getBatchCount() > 0);
            assertThat(client.rollback(xid).getXid()).isEqualTo(xid);
        } finally {
            server.shutdownNow();
        }
    }

    @Test
    void callsAndAnswersReadyAtOnceShareMessagesAndAreAllAnswered() throws Exception {
        try (TcClient client = streamClient(config(tc.grpcAddress(), TOKEN, 1))) {
            TcClient.CallsStreamTraffic before = client.callsStreamTraffic();
            ExecutorService callers = Executors.newFixedThreadPool(32);
            List<CompletableFuture<Boolean>> transactions = new ArrayList<>();
            try {
                // Each begin and rollback is a durable write: the answers one log batch completes go out together.
                for (int i = 0; i < 320; i++) {
                    transactions.add(CompletableFuture.supplyAsync(() -> {
                        String xid = client.begin("batched", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
                        return client.rollback(xid).getXid().equals(xid);
                    }, callers));
                }
                for (CompletableFuture<Boolean> transaction : transactions) {
                    assertThat(transaction.get(CALL_TIMEOUT.toMillis() * 2, TimeUnit.MILLISECONDS)).isTrue();
                }
            } finally {
                callers.shutdownNow();
            }
            TcClient.CallsStreamTraffic after = client.callsStreamTraffic();
            long frames = after.framesSent() - before.framesSent();
            long answers = after.answersReceived() - before.answersReceived();
            assertThat(frames).isEqualTo(640);
            assertThat(answers).isEqualTo(640);
            assertThat(after.messagesSent() - before.messagesSent()).isBetween(1L, frames);
            assertThat(after.messagesReceived() - before.messagesReceived()).isBetween(1L, answers - 1);
        }
    }

    static Channel authorized(Channel channel) {
        Metadata token = new Metadata();
        token.put(Protocol.AUTHORIZATION, "Bearer " + TOKEN);
        return ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(token));
    }

    static CallFrame statusFrame(long id, String xid) {
        return CallFrame.newBuilder().setCallId(id).setGetStatus(GlobalRequest.newBuilder().setXid(xid)).build();
    }

    static List<CallFrame> statusFrames(long firstId, int count, String xid) {
        List<CallFrame> frames = new ArrayList<>();
        for (long id = firstId; id < firstId + count; id++) {
            frames.add(statusFrame(id, xid));
        }
        return frames;
    }

    static int port(String address) {
        return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
    }

    /** Waits until {@code count} pool threads wait for the TC's answer on a stream (their frames are sent). */
    static void awaitWaitingThreads(int count) {
        CoordinatorScenarios.await(() -> Thread.getAllStackTraces().entrySet().stream()
                .filter(e -> e.getKey().getState() == Thread.State.TIMED_WAITING)
                .filter(e -> List.of(e.getValue()).stream().anyMatch(f -> f.getMethodName().equals("await")
                        && f.getClassName().endsWith("TcCallsStreams$Pending")))
                .count() >= count, () -> count + " calls waiting on the stream");
    }

    record StreamEnd(Status status, Metadata trailers) {
    }

    /** A Calls stream opened by hand, for what the client never sends. */
    static final class RawStream<Q> {
        final ClientCall<Q, ?> call;
        final List<Object> replies = java.util.Collections.synchronizedList(new ArrayList<>());
        final LinkedBlockingQueue<StreamEnd> ends = new LinkedBlockingQueue<>();

        private RawStream(ClientCall<Q, ?> call) {
            this.call = call;
        }

        static <Q, R> RawStream<Q> open(Channel channel, MethodDescriptor<Q, R> method) {
            ClientCall<Q, R> call = channel.newCall(method, CallOptions.DEFAULT);
            RawStream<Q> raw = new RawStream<>(call);
            call.start(new ClientCall.Listener<R>() {
                @Override
                public void onMessage(R message) {
                    if (!(message instanceof ReplyFrame frame && frame.hasOpened())
                            && !(message instanceof byte[])) {
                        raw.replies.add(message);
                    }
                }

                @Override
                public void onClose(Status status, Metadata trailers) {
                    raw.ends.add(new StreamEnd(status, trailers));
                }
            }, new Metadata());
            call.request(Integer.MAX_VALUE);
            return raw;
        }

        /** The first {@code count} reply messages (the greeting not counted), within the call timeout. */
        @SuppressWarnings("unchecked")
        <R> List<R> awaitReplies(int count) {
            CoordinatorScenarios.await(() -> replies.size() >= count, () -> count + " reply messages");
            synchronized (replies) {
                return new ArrayList<>((List<R>) (List<?>) replies.subList(0, count));
            }
        }

        StreamEnd end() {
            try {
                StreamEnd end = ends.poll(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                assertThat(end).as("the stream to be closed by the TC").isNotNull();
                return end;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
