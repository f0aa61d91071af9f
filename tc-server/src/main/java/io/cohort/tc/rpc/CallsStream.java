package io.cohort.tc.rpc;

import com.google.protobuf.Message;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.CallError;
import io.cohort.protocol.v1.CallFrame;
import io.cohort.protocol.v1.CallsOpened;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.ReplyFrame;
import io.cohort.tc.support.TcObservations;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.function.BiConsumer;

/**
 * The TC's side of one Calls stream: each frame is handed to the very method of
 * {@link CoordinatorGrpcService} that serves the unary RPC, with an observer that turns its answer
 * (or its gRPC status and {@code cohort-error-code} trailer) into a {@link ReplyFrame} carrying the
 * frame's call id. The stream's gRPC context (the {@link Caller} that {@link AuthInterceptor} set)
 * is in place for every frame, as it is for a unary call.
 */
final class CallsStream implements StreamObserver<CallFrame> {

    private final CoordinatorGrpcService service;
    private final ServerCallStreamObserver<ReplyFrame> outbound;
    /** Where frames run; null: on the network thread that read them (the handlers never block). */
    private final Executor executor;
    private final TcObservations observations;
    private final int maxInFlight;
    private final Map<Long, FrameCall<?>> inFlight = new ConcurrentHashMap<>();
    private boolean halfClosed; // guarded by this
    private boolean closed; // guarded by this

    CallsStream(CoordinatorGrpcService service, ServerCallStreamObserver<ReplyFrame> outbound, Executor executor,
                TcObservations observations, int maxInFlight, int maxFrameBytes) {
        this.service = service;
        this.outbound = outbound;
        this.executor = executor;
        this.observations = observations;
        this.maxInFlight = maxInFlight;
        // The client went away or the stream broke: calls still waiting (a registration queued for locks) stop.
        outbound.setOnCancelHandler(this::cancelAll);
        send(ReplyFrame.newBuilder().setOpened(CallsOpened.newBuilder().setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setMaxFrameBytes(maxFrameBytes))
                .build());
    }

    @Override
    public void onNext(CallFrame frame) {
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
        if (executor == null) {
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
            if (!halfClosed || closed || !inFlight.isEmpty()) {
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
            if (inFlight.remove(id, this)) {
                ReplyFrame.Builder reply = ReplyFrame.newBuilder().setCallId(id);
                envelope.accept(reply, response);
                send(reply.build());
                completeIfDrained();
            }
        }

        @Override
        public void onError(Throwable t) {
            if (inFlight.remove(id, this)) {
                Status status = Status.fromThrowable(t);
                Metadata trailers = Status.trailersFromThrowable(t);
                String errorCode = trailers == null ? null : trailers.get(Protocol.ERROR_CODE_TRAILER);
                send(ReplyFrame.newBuilder().setCallId(id).setError(CallError.newBuilder()
                        .setStatusCode(status.getCode().value())
                        .setDescription(status.getDescription() == null ? "" : status.getDescription())
                        .setErrorCode(errorCode == null ? "" : errorCode)).build());
                completeIfDrained();
            }
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
}
