package io.cohort.client;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.CallCancel;
import io.cohort.protocol.v1.CallFrame;
import io.cohort.protocol.v1.ReplyFrame;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's Calls streams (protocol minor 9): every call to the TC as a frame on one of a few
 * long-lived gRPC streams instead of an HTTP/2 stream of its own. {@link #send} hands a frame to an
 * open stream, or answers null when none is open, and the caller makes the unary call instead: so
 * while a stream is being (re)opened, and for good once a TC answered UNIMPLEMENTED (an older TC),
 * calls behave exactly as unary calls. A stream that breaks fails its calls in flight with
 * UNAVAILABLE, as a lost connection fails unary calls, and is reopened by the next call.
 *
 * <p>With several replicas (a list, or a name such as {@code dns:///} over several) each stream has a
 * channel of its own that prefers one replica ({@link LaneLoadBalancer}): stream {@code i} goes to
 * replica {@code i mod n} of the sorted addresses while it answers, else to the next one that does.
 * On the client's one round-robin channel every stream opened at start went to the replica that
 * connected first.
 *
 * <p>Minor 10: a caller whose frame finds another thread writing to the same stream leaves it in the
 * stream's outbox and returns; the writer sends what gathered there meanwhile in one message (the
 * frame's {@code batch}) once it is done. The network thread is the writer while it delivers a
 * message's answers, so the calls that the threads it wakes make at once go out together after them;
 * a call alone goes at once. A frame the stream closes under fails as unavailable, as a call in
 * flight on a stream that breaks does. A TC that greeted with an older minor
 * gets one call per message. The client says its minor in the stream's opening headers
 * ({@link Protocol#CALLS_MINOR_HEADER}): a TC of minor 10 then sends several answers per message too.
 */
final class TcCallsStreams implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TcCallsStreams.class);
    /** Wait before reopening a stream that failed before the TC greeted it (refused, or no TC). */
    private static final long REOPEN_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final String address;
    private final Lane[] lanes;
    /** The lanes' own channels, shut down with the streams (none when one lane uses the client's channel). */
    private final List<ManagedChannel> ownChannels;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicLong callIds = new AtomicLong();
    private volatile boolean unsupported;
    private volatile boolean closed;
    private final LongAdder framesSent = new LongAdder();
    private final LongAdder messagesSent = new LongAdder();
    private final LongAdder answersReceived = new LongAdder();
    private final LongAdder messagesReceived = new LongAdder();

    /**
     * The streams of a client: one lane on the client's own {@code shared} channel when there is one
     * TC address; else {@link #streamsFor} lanes, each on a channel of its own that prefers another
     * replica ({@link TcChannels#openLane}). Each channel carries the {@code auth} headers, not the
     * tracing interceptor: traces travel per frame.
     */
    static TcCallsStreams open(ManagedChannel shared, ClientInterceptor auth, TcClientConfig config) {
        int count = streamsFor(config);
        Channel[] channels = new Channel[count];
        List<ManagedChannel> own = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            ManagedChannel channel = count == 1 ? shared : TcChannels.openLane(config.addresses(), config.tls(), i);
            if (channel != shared) {
                own.add(channel);
            }
            channels[i] = ClientInterceptors.intercept(channel, auth);
        }
        return new TcCallsStreams(channels, own, config.address());
    }

    private TcCallsStreams(Channel[] channels, List<ManagedChannel> ownChannels, String address) {
        this.address = address;
        this.ownChannels = ownChannels;
        this.lanes = new Lane[channels.length];
        for (int i = 0; i < lanes.length; i++) {
            lanes[i] = new Lane(channels[i]);
        }
    }

    /** How many streams a client keeps for {@code config}: one per listed replica, a few behind a DNS name. */
    static int streamsFor(TcClientConfig config) {
        int listed = config.addresses().size();
        return listed == 1 && config.address().contains("://") ? 4 : listed;
    }

    /** False once the TC answered that it has no Calls RPC: every call is unary from then on. */
    boolean supported() {
        return !unsupported && !closed;
    }

    /**
     * Sends {@code frame} (without its call id) on an open stream and returns the call in flight, or
     * null when no stream is open now: the caller makes the unary call.
     */
    Pending send(CallFrame.Builder frame) {
        if (!supported()) {
            return null;
        }
        int start = Math.floorMod(next.getAndIncrement(), lanes.length);
        for (int i = 0; i < lanes.length; i++) {
            Lane lane = lanes[(start + i) % lanes.length];
            Pending pending = lane.trySend(frame);
            if (pending != null) {
                return pending;
            }
        }
        for (Lane lane : lanes) {
            lane.openIfIdle();
        }
        return null;
    }

    /** How many streams are open (the TC greeted them): calls go on these. */
    int openCount() {
        int open = 0;
        for (Lane lane : lanes) {
            if (lane.isOpen()) {
                open++;
            }
        }
        return open;
    }

    /** What went over these streams since they were made. */
    TcClient.CallsStreamTraffic traffic() {
        return new TcClient.CallsStreamTraffic(framesSent.sum(), messagesSent.sum(), answersReceived.sum(),
                messagesReceived.sum());
    }

    @Override
    public void close() {
        closed = true;
        for (Lane lane : lanes) {
            lane.shutdown();
        }
        for (ManagedChannel channel : ownChannels) {
            channel.shutdown(); // the half-closed streams end as the TC finishes them
        }
    }

    /** One call in flight on a stream. */
    final class Pending {
        private final Lane lane;
        private final long id;
        private final CompletableFuture<ReplyFrame> reply = new CompletableFuture<>();

        Pending(Lane lane, long id) {
            this.lane = lane;
            this.id = id;
        }

        /**
         * The TC's answer within {@code deadlineMs}, or the failure the unary call would have ended
         * with: the TC's status and {@code cohort-error-code} trailer, DEADLINE_EXCEEDED, or
         * UNAVAILABLE when the stream broke.
         */
        ReplyFrame await(long deadlineMs) {
            ReplyFrame answer;
            try {
                answer = reply.get(deadlineMs, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                lane.cancel(this);
                throw Status.DEADLINE_EXCEEDED.withDescription("no answer on the Calls stream within the deadline of "
                        + deadlineMs + " ms").asRuntimeException();
            } catch (InterruptedException e) {
                lane.cancel(this);
                Thread.currentThread().interrupt();
                throw Status.CANCELLED.withDescription("interrupted while waiting for the TC").withCause(e)
                        .asRuntimeException();
            } catch (ExecutionException e) {
                throw (StatusRuntimeException) e.getCause();
            }
            return checked(answer);
        }

        /**
         * As {@link #await}, without blocking the caller (a reactive one): completes with the answer or
         * with the {@link StatusRuntimeException} {@code await} would throw. It completes on the thread that
         * received the answer (gRPC's network thread) or on the JDK's timer thread: a caller must not block there.
         */
        CompletableFuture<ReplyFrame> answer(long deadlineMs) {
            CompletableFuture<ReplyFrame> answer = new CompletableFuture<>();
            reply.orTimeout(deadlineMs, TimeUnit.MILLISECONDS).whenComplete((frame, failure) -> {
                Throwable cause = failure instanceof CompletionException ? failure.getCause() : failure;
                if (cause instanceof TimeoutException) {
                    lane.cancel(this);
                    answer.completeExceptionally(Status.DEADLINE_EXCEEDED.withDescription("no answer on the Calls "
                            + "stream within the deadline of " + deadlineMs + " ms").asRuntimeException());
                } else if (cause != null) {
                    answer.completeExceptionally(cause);
                } else {
                    try {
                        answer.complete(checked(frame));
                    } catch (StatusRuntimeException refused) {
                        answer.completeExceptionally(refused);
                    }
                }
            });
            return answer;
        }

        /** The answer, or the TC's refusal as the status and trailer the unary call would have failed with. */
        private static ReplyFrame checked(ReplyFrame answer) {
            if (answer.getReplyCase() == ReplyFrame.ReplyCase.ERROR) {
                var error = answer.getError();
                Metadata trailers = new Metadata();
                if (!error.getErrorCode().isEmpty()) {
                    trailers.put(Protocol.ERROR_CODE_TRAILER, error.getErrorCode());
                }
                throw Status.fromCodeValue(error.getStatusCode())
                        .withDescription(error.getDescription().isEmpty() ? null : error.getDescription())
                        .asRuntimeException(trailers);
            }
            return answer;
        }
    }

    /** One stream: idle, opening (started, not yet greeted by the TC), or open. */
    private final class Lane {
        /** A batch's size when the TC did not say its largest frame (gRPC's default limit is 4 MiB). */
        private static final int DEFAULT_MAX_BATCH_BYTES = 1 << 20;
        private final Channel channel;
        private final Map<Long, Pending> inFlight = new ConcurrentHashMap<>();
        /** Set while a caller writes to the stream: others leave their frames in {@link #outbox} to it. */
        private final AtomicBoolean writing = new AtomicBoolean();
        /** Held to use the stream's call, which takes one thread at a time: the writer's sends, the half-close. */
        private final Object callLock = new Object();
        private final ArrayDeque<CallFrame> outbox = new ArrayDeque<>(); // guarded by this
        private ClientCall<CallFrame, ReplyFrame> call; // guarded by this
        private boolean open; // guarded by this: the TC greeted the stream
        private boolean batches; // guarded by this: the TC takes several calls per message (minor 10)
        private int maxFrameBytes; // guarded by this: the largest frame the TC accepts (0: not said)
        private long notBeforeNanos; // guarded by this: when a failed stream may be reopened

        Lane(Channel channel) {
            this.channel = channel;
        }

        Pending trySend(CallFrame.Builder frame) {
            long id = callIds.incrementAndGet();
            Pending pending = new Pending(this, id);
            CallFrame built = frame.setCallId(id).build();
            synchronized (this) {
                if (!open) {
                    return null;
                }
                if (maxFrameBytes > 0 && built.getSerializedSize() > maxFrameBytes) {
                    // The TC would end the whole stream over it, failing every call on it: unary, it is refused alone.
                    return null;
                }
                inFlight.put(id, pending);
                outbox.add(built);
            }
            writeOutbox();
            return pending;
        }

        void cancel(Pending pending) {
            if (inFlight.remove(pending.id, pending)) {
                synchronized (this) {
                    if (!open) {
                        return; // the stream is ending: the TC drops the call with it
                    }
                    outbox.add(CallFrame.newBuilder().setCallId(pending.id)
                            .setCancel(CallCancel.getDefaultInstance()).build());
                }
                writeOutbox();
            }
        }

        /**
         * Writes the outbox, unless another caller is writing: that one sends this caller's frame with
         * the others that gathered meanwhile, after its own write. One writer at a time, so the frames
         * go in the order they were queued.
         */
        private void writeOutbox() {
            while (writing.compareAndSet(false, true)) {
                try {
                    for (Outgoing next = takeMessage(); next != null; next = takeMessage()) {
                        write(next.stream(), next.message());
                    }
                } finally {
                    writing.set(false);
                }
                synchronized (this) {
                    if (outbox.isEmpty()) {
                        return; // else a frame came after the last take and its caller saw us writing
                    }
                }
            }
        }

        /** The next message and its stream: every frame queued (as many as one frame of the TC's may hold), or null. */
        private Outgoing takeMessage() {
            List<CallFrame> unsent;
            synchronized (this) {
                if (outbox.isEmpty()) {
                    return null;
                }
                if (open) {
                    return new Outgoing(call, nextMessage());
                }
                unsent = new ArrayList<>(outbox);
                outbox.clear();
            }
            fail(unsent, Status.UNAVAILABLE.withDescription("the Calls stream to the TC closed before this call was "
                    + "sent").asRuntimeException());
            return null;
        }

        /** Fails the calls of {@code frames} that still wait for an answer. */
        private void fail(List<CallFrame> frames, StatusRuntimeException why) {
            for (CallFrame frame : frames) {
                Pending pending = inFlight.remove(frame.getCallId());
                if (pending != null) {
                    pending.reply.completeExceptionally(why);
                }
            }
        }

        /** Guarded by this: the outbox's first frame alone, or its frames as one batch when the TC takes them. */
        private CallFrame nextMessage() {
            CallFrame first = outbox.poll();
            if (!batches || outbox.isEmpty()) {
                framesSent.increment();
                return first;
            }
            int limit = maxFrameBytes > 0 ? maxFrameBytes : DEFAULT_MAX_BATCH_BYTES;
            int bytes = first.getSerializedSize() + 8; // with the field's tag and length
            CallFrame.Builder batch = CallFrame.newBuilder().addBatch(first);
            for (CallFrame next = outbox.peek(); next != null; next = outbox.peek()) {
                int size = next.getSerializedSize() + 8;
                if (bytes + size > limit) {
                    break;
                }
                batch.addBatch(outbox.poll());
                bytes += size;
            }
            framesSent.add(batch.getBatchCount());
            return batch.getBatchCount() == 1 ? first : batch.build();
        }

        /** Sends one message; a stream closing under us fails the calls in it as the stream's end does. */
        private void write(ClientCall<CallFrame, ReplyFrame> stream, CallFrame message) {
            try {
                synchronized (callLock) {
                    stream.sendMessage(message);
                }
                messagesSent.increment();
            } catch (RuntimeException closing) {
                fail(message.getBatchCount() > 0 ? message.getBatchList() : List.of(message), Status.UNAVAILABLE
                        .withDescription("the Calls stream to the TC was closing when this call was sent")
                        .withCause(closing).asRuntimeException());
            }
        }

        synchronized boolean isOpen() {
            return open;
        }

        synchronized void openIfIdle() {
            if (call != null || closed || unsupported || System.nanoTime() - notBeforeNanos < 0) {
                return;
            }
            // Waits for a connection like the unary calls that wait for one; callbacks run on the network
            // thread: they only complete futures.
            ClientCall<CallFrame, ReplyFrame> started = channel.newCall(TransactionCoordinatorGrpc.getCallsMethod(),
                    CallOptions.DEFAULT.withWaitForReady().withExecutor(Runnable::run));
            call = started;
            started.start(new ClientCall.Listener<>() {
                @Override
                public void onMessage(ReplyFrame reply) {
                    messagesReceived.increment();
                    if (reply.getBatchCount() > 0) {
                        deliver(reply.getBatchList());
                    } else if (reply.getCallId() == 0) {
                        opened(started, reply);
                    } else {
                        deliver(List.of(reply));
                    }
                }

                @Override
                public void onClose(Status status, Metadata trailers) {
                    closedStream(started, status);
                }
            }, headers());
            started.request(Integer.MAX_VALUE);
        }

        /**
         * Completes the calls of {@code answers} as this stream's writer: the calls that the threads they
         * wake make meanwhile wait in the outbox and go out together, from this (network) thread, after
         * the last answer, unless another thread is writing already (then that one sends them).
         */
        private void deliver(List<ReplyFrame> answers) {
            boolean writer = writing.compareAndSet(false, true);
            try {
                for (ReplyFrame answer : answers) {
                    answered(answer);
                }
            } finally {
                if (writer) {
                    writing.set(false);
                    writeOutbox();
                }
            }
        }

        private void answered(ReplyFrame reply) {
            answersReceived.increment();
            Pending pending = inFlight.remove(reply.getCallId());
            if (pending != null) {
                pending.reply.complete(reply);
            }
        }

        private void opened(ClientCall<CallFrame, ReplyFrame> stream, ReplyFrame greeting) {
            synchronized (this) {
                if (call != stream) {
                    return;
                }
                if (greeting.getOpened().getProtocolMinor() < Protocol.CALLS_STREAM_MINOR) {
                    unsupported = true; // not a TC of this protocol: keep to the unary calls
                    stream.cancel("the TC does not speak the Calls stream", null);
                    return;
                }
                open = true;
                batches = greeting.getOpened().getProtocolMinor() >= Protocol.CALLS_BATCH_MINOR;
                maxFrameBytes = greeting.getOpened().getMaxFrameBytes();
            }
        }

        private void closedStream(ClientCall<CallFrame, ReplyFrame> stream, Status status) {
            boolean wasOpen;
            synchronized (this) {
                if (call != stream) {
                    return;
                }
                wasOpen = open;
                call = null;
                open = false;
                // A stream that never opened (refused, no TC yet) is not retried at once by every call.
                notBeforeNanos = wasOpen ? System.nanoTime() : System.nanoTime() + REOPEN_BACKOFF_NANOS;
            }
            if (status.getCode() == Status.Code.UNIMPLEMENTED) {
                unsupported = true;
                log.info("The TC at {} has no Calls stream (an older TC): calls to it are unary", address);
            } else if (wasOpen && !closed) {
                log.warn("The Calls stream to the TC at {} ended ({}: {}); calls in flight on it fail as unavailable, "
                        + "the next call reopens it", address, status.getCode(), status.getDescription());
            }
            StatusRuntimeException broken = Status.UNAVAILABLE.withDescription("the Calls stream to the TC ended ("
                    + status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription()) + ")")
                    .withCause(status.getCause()).asRuntimeException();
            for (Long id : inFlight.keySet()) {
                Pending pending = inFlight.remove(id);
                if (pending != null) {
                    pending.reply.completeExceptionally(broken);
                }
            }
        }

        synchronized void shutdown() {
            boolean wasOpen = open;
            open = false;
            if (call != null) {
                if (wasOpen) {
                    synchronized (callLock) {
                        call.halfClose();
                    }
                } else {
                    call.cancel("client closed", null);
                }
            }
        }
    }

    private record Outgoing(ClientCall<CallFrame, ReplyFrame> stream, CallFrame message) {
    }

    /** The opening headers of a stream: this client's minor, so that the TC may send several answers per message. */
    private static Metadata headers() {
        Metadata headers = new Metadata();
        headers.put(Protocol.CALLS_MINOR_HEADER, Integer.toString(Protocol.PROTOCOL_MINOR));
        return headers;
    }
}
