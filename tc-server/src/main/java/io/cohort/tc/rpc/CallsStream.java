package io.cohort.tc.rpc;

import com.google.protobuf.Message;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.CallError;
import io.cohort.protocol.v1.CallFrame;
import io.cohort.protocol.v1.CallsOpened;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.ReplyFrame;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.tc.support.AfterCompletions;
import io.cohort.tc.support.TcObservations;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;

/**
 * The TC's side of one Calls stream: each frame is handed to the very method of
 * {@link CoordinatorGrpcService} that serves the unary RPC, with an observer that turns its answer
 * (or its gRPC status and {@code cohort-error-code} trailer) into a {@link ReplyFrame} carrying the
 * frame's call id. The stream's gRPC context (the {@link Caller} that {@link AuthInterceptor} set)
 * is in place for every frame, as it is for a unary call.
 *
 * <p>Minor 10: a frame may carry several calls ({@code batch}), served in order as if each had come
 * alone. The answers that one batch of the store's completions (or one batch of frames run on the
 * network thread) completes go out in one {@link ReplyFrame} ({@link AfterCompletions#collect}), if
 * the client said in its opening headers that it takes them ({@link Protocol#CALLS_MINOR_HEADER});
 * an older client gets one answer per message.
 */
final class CallsStream implements StreamObserver<CallFrame> {

    /** The client's minor from the stream's opening headers (0: an older client, which sent none). */
    static final Context.Key<Integer> PEER_MINOR = Context.keyWithDefault("cohort-calls-peer-minor", 0);
    /** An answers' batch above this many bytes is split: the client's largest inbound message is gRPC's 4 MiB default. */
    private static final int MAX_REPLY_BATCH_BYTES = 1 << 20;

    private final CoordinatorGrpcService service;
    private final ServerCallStreamObserver<ReplyFrame> outbound;
    /**
     * Where a call that may wait on a database read runs, so that it does not hold up the stream's
     * next frames; null: every call runs on the thread that read its frame (the handlers never
     * block). A call that waits on no read ({@link CoordinatorGrpcService#waitsOnNoRead}) runs on
     * that thread in any case, a network thread (see {@code GrpcServer}): a hand-off per call cost
     * the TC about 1.9 of its 7 context switches per transaction on the PostgreSQL store (README,
     * "The TC alone").
     */
    private final Executor executor;
    private final TcObservations observations;
    private final int maxInFlight;
    /** Whether the client takes several answers per message (minor 10 or later in its opening headers). */
    private final boolean peerTakesBatches;
    private final Map<Long, FrameCall<?>> inFlight = new ConcurrentHashMap<>();
    /**
     * Answers taken out of {@link #inFlight} and not yet written (collected until their batch's end,
     * or on their way): the stream does not end under them when the client half-closed.
     */
    private final AtomicInteger answersHeld = new AtomicInteger();
    private boolean halfClosed; // guarded by this
    private boolean closed; // guarded by this

    CallsStream(CoordinatorGrpcService service, ServerCallStreamObserver<ReplyFrame> outbound, Executor executor,
                TcObservations observations, int maxInFlight, int maxFrameBytes) {
        this.service = service;
        this.outbound = outbound;
        this.executor = executor;
        this.observations = observations;
        this.maxInFlight = maxInFlight;
        this.peerTakesBatches = PEER_MINOR.get() >= Protocol.CALLS_BATCH_MINOR;
        // The client went away or the stream broke: calls still waiting (a registration queued for locks) stop.
        outbound.setOnCancelHandler(this::cancelAll);
        send(ReplyFrame.newBuilder().setOpened(CallsOpened.newBuilder().setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setMaxFrameBytes(maxFrameBytes))
                .build());
    }

    @Override
    public void onNext(CallFrame frame) {
        if (frame.getBatchCount() > 0) {
            if (frame.getCallId() != 0 || frame.getRequestCase() != CallFrame.RequestCase.REQUEST_NOT_SET) {
                closeMalformed("a frame on the Calls stream carries both a batch and a call of its own");
                return;
            }
            // The answers these calls complete on this thread (refusals, answers from memory) go out together.
            AfterCompletions.run(() -> {
                for (CallFrame call : frame.getBatchList()) {
                    if (call.getBatchCount() > 0) {
                        closeMalformed("a batch on the Calls stream holds another batch");
                    }
                    synchronized (this) {
                        if (closed) {
                            return; // refused as malformed: the calls after it are not served
                        }
                    }
                    onNext(call);
                }
            });
            return;
        }
        long id = frame.getCallId();
        if (frame.getRequestCase() == CallFrame.RequestCase.CANCEL) {
            FrameCall<?> call = inFlight.remove(id);
            if (call != null) {
                call.cancel();
            }
            return;
        }
        if (id == 0 || frame.getRequestCase() == CallFrame.RequestCase.REQUEST_NOT_SET) {
            closeMalformed(id == 0 ? "a frame on the Calls stream has no call_id" : "frame " + id + " has no request");
            return;
        }
        FrameCall<?> call = new FrameCall<>(id);
        if (inFlight.putIfAbsent(id, call) != null) {
            closeMalformed("call_id " + id + " is already in flight on this stream");
            return;
        }
        if (inFlight.size() > maxInFlight) {
            // As many calls as one connection may run at once (cohort.tc.connections.max-calls-per-connection).
            call.onError(Status.RESOURCE_EXHAUSTED.withDescription("More than " + maxInFlight + " calls in flight on "
                            + "one Calls stream (cohort.tc.connections.max-calls-per-connection); wait for answers")
                    .asRuntimeException());
            return;
        }
        Context context = observations.withTraceHeaders(Context.current(), frame.getTraceHeadersMap());
        if (executor == null || service.waitsOnNoRead(frame)) {
            context.run(() -> dispatch(frame, call));
        } else {
            executor.execute(context.wrap(() -> dispatch(frame, call)));
        }
    }

    /** The unary RPC's own method serves the frame; only the answer's envelope differs. */
    private void dispatch(CallFrame frame, FrameCall<?> call) {
        switch (frame.getRequestCase()) {
            case BEGIN -> service.begin(frame.getBegin(), call.as(ReplyFrame.Builder::setBegin));
            case COMMIT -> service.commit(frame.getCommit(), call.as(ReplyFrame.Builder::setGlobalStatus));
            case ROLLBACK -> service.rollback(frame.getRollback(), call.as(ReplyFrame.Builder::setGlobalStatus));
            case GET_STATUS -> service.getStatus(frame.getGetStatus(), call.as(ReplyFrame.Builder::setGlobalStatus));
            case REGISTER_BRANCH -> service.registerBranch(frame.getRegisterBranch(),
                    call.as(ReplyFrame.Builder::setRegisterBranch));
            case REPORT_BRANCH -> service.reportBranch(frame.getReportBranch(),
                    call.as(ReplyFrame.Builder::setReportBranch));
            case MARK_ROLLBACK_ONLY -> service.markRollbackOnly(frame.getMarkRollbackOnly(),
                    call.as(ReplyFrame.Builder::setGlobalStatus));
            case QUERY_LOCKS -> service.queryLocks(frame.getQueryLocks(), call.as(ReplyFrame.Builder::setQueryLocks));
            default -> call.onError(Status.INVALID_ARGUMENT.withDescription("frame " + frame.getCallId() + " holds "
                    + frame.getRequestCase() + ", which is not a call; update the client or the TC").asRuntimeException(
                    CoordinatorGrpcService.trailer(ErrorCode.INVALID_REQUEST)));
        }
    }

    private void closeMalformed(String why) {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        cancelAll();
        outbound.onError(Status.INVALID_ARGUMENT.withDescription(why + "; send frames built from cohort.proto")
                .asRuntimeException(CoordinatorGrpcService.trailer(ErrorCode.INVALID_REQUEST)));
    }

    @Override
    public void onError(Throwable t) {
        cancelAll();
    }

    @Override
    public void onCompleted() {
        synchronized (this) {
            halfClosed = true;
        }
        completeIfDrained();
    }

    private void cancelAll() {
        for (Long id : inFlight.keySet()) {
            FrameCall<?> call = inFlight.remove(id);
            if (call != null) {
                call.cancel();
            }
        }
    }

    private void completeIfDrained() {
        synchronized (this) {
            // inFlight before answersHeld: an answer is counted held before it leaves inFlight.
            if (!halfClosed || closed || !inFlight.isEmpty() || answersHeld.get() > 0) {
                return;
            }
            closed = true;
            try {
                outbound.onCompleted();
            } catch (RuntimeException alreadyClosed) {
                // the stream ended meanwhile
            }
        }
    }

    /**
     * Sends the answer of a call already taken out of {@link #inFlight} and counted in {@link #answersHeld}:
     * at the end of the batch of completions this thread is running, with the batch's other answers to
     * this stream, when the client takes several per message; else now.
     */
    private void answer(ReplyFrame reply) {
        if (peerTakesBatches && AfterCompletions.collect(this, reply, this::sendAll)) {
            return;
        }
        send(reply);
        answersHeld.decrementAndGet();
        completeIfDrained();
    }

    /** One message for the answers a batch collected (one alone goes as it is), split if very large. */
    private void sendAll(List<ReplyFrame> replies) {
        if (replies.size() == 1) {
            send(replies.get(0));
        } else {
            ReplyFrame.Builder batch = ReplyFrame.newBuilder();
            int bytes = 0;
            for (ReplyFrame reply : replies) {
                int size = reply.getSerializedSize();
                if (bytes > 0 && bytes + size > MAX_REPLY_BATCH_BYTES) {
                    send(batch.build());
                    batch = ReplyFrame.newBuilder();
                    bytes = 0;
                }
                batch.addBatch(reply);
                bytes += size + 8; // the field's tag and length
            }
            send(batch.getBatchCount() == 1 ? batch.getBatch(0) : batch.build());
        }
        answersHeld.addAndGet(-replies.size());
        completeIfDrained();
    }

    /** Writes are serialized: answers complete on store and network threads at once. */
    private synchronized void send(ReplyFrame reply) {
        if (closed || outbound.isCancelled()) {
            return;
        }
        try {
            outbound.onNext(reply);
        } catch (IllegalStateException closedMeanwhile) {
            // The stream was closed under us (a malformed frame refused by MalformedRequestGuard): nobody to answer.
            closed = true;
        }
    }

    /**
     * What a unary handler answers into, for one frame: its single response or its error becomes
     * the frame's reply. A cancel frame or the stream's end runs the handler's cancel hook, as a
     * unary call's cancellation does.
     */
    private final class FrameCall<R> extends ServerCallStreamObserver<R> {

        private final long id;
        private BiConsumer<ReplyFrame.Builder, R> envelope;
        private R response;
        private volatile boolean cancelled;
        private volatile Runnable onCancel;

        FrameCall(long id) {
            this.id = id;
        }

        @SuppressWarnings("unchecked")
        <T extends Message> FrameCall<T> as(BiConsumer<ReplyFrame.Builder, T> envelope) {
            FrameCall<T> typed = (FrameCall<T>) this;
            typed.envelope = envelope;
            return typed;
        }

        void cancel() {
            cancelled = true;
            Runnable hook = onCancel;
            if (hook != null) {
                hook.run();
            }
            completeIfDrained();
        }

        @Override
        public void onNext(R value) {
            response = value;
        }

        @Override
        public void onCompleted() {
            if (takeOut()) {
                ReplyFrame.Builder reply = ReplyFrame.newBuilder().setCallId(id);
                envelope.accept(reply, response);
                answer(reply.build());
            }
        }

        @Override
        public void onError(Throwable t) {
            if (takeOut()) {
                Status status = Status.fromThrowable(t);
                Metadata trailers = Status.trailersFromThrowable(t);
                String errorCode = trailers == null ? null : trailers.get(Protocol.ERROR_CODE_TRAILER);
                answer(ReplyFrame.newBuilder().setCallId(id).setError(CallError.newBuilder()
                        .setStatusCode(status.getCode().value())
                        .setDescription(status.getDescription() == null ? "" : status.getDescription())
                        .setErrorCode(errorCode == null ? "" : errorCode)).build());
            }
        }

        /** Takes this call out of the calls in flight, once, its answer counted held until sent. */
        private boolean takeOut() {
            answersHeld.incrementAndGet();
            if (inFlight.remove(id, this)) {
                return true;
            }
            answersHeld.decrementAndGet();
            return false;
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }

        @Override
        public void setOnCancelHandler(Runnable onCancelHandler) {
            onCancel = onCancelHandler;
            if (cancelled) {
                onCancelHandler.run();
            }
        }

        @Override
        public void setCompression(String compression) {
        }

        @Override
        public boolean isReady() {
            return outbound.isReady();
        }

        @Override
        public void setOnReadyHandler(Runnable onReadyHandler) {
        }

        @Override
        public void disableAutoInboundFlowControl() {
        }

        @Override
        public void request(int count) {
        }

        @Override
        public void setMessageCompression(boolean enable) {
        }
    }

    /** Puts the client's minor from a Calls stream's opening headers in its context ({@link #PEER_MINOR}). */
    static final class PeerMinorInterceptor implements ServerInterceptor {

        private static final String CALLS_METHOD = TransactionCoordinatorGrpc.getCallsMethod().getFullMethodName();

        @Override
        public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                          ServerCallHandler<Q, R> next) {
            // By name: the guard's copy of the method descriptor is another object.
            String minor = CALLS_METHOD.equals(call.getMethodDescriptor().getFullMethodName())
                    ? headers.get(Protocol.CALLS_MINOR_HEADER) : null;
            if (minor == null) {
                return next.startCall(call, headers);
            }
            int peerMinor;
            try {
                peerMinor = Integer.parseInt(minor);
            } catch (NumberFormatException notANumber) {
                peerMinor = 0; // taken for an older client's: one answer per message always works
            }
            return Contexts.interceptCall(Context.current().withValue(PEER_MINOR, peerMinor), call, headers, next);
        }
    }
}
