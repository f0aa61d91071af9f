package io.cohort.client;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchResults;
import io.cohort.protocol.v1.RmHello;
import io.cohort.protocol.v1.RmMessage;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.ManagedChannel;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RM's long-lived command streams: one to every TC replica, so whichever replica drives a
 * branch can reach this RM. Each stream announces the RM's resources, receives batches of branch
 * commands, runs them on a worker pool through the {@link BranchCommandHandler} and sends the
 * results back on the same stream. A broken stream is reopened with backoff (up to 5 s), forever,
 * until {@link #close()}, or at once by {@link #reconnectNow()}; replicas behind a DNS name are
 * re-resolved every 30 s.
 */
public final class RmConnection implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RmConnection.class);
    private static final long MAX_BACKOFF_MS = 5_000;

    private final TcClientConfig config;
    private final RmHello hello;
    private final BranchCommandHandler handler;
    /** Commands a worker takes at most as one batch. */
    private static final int MAX_BATCH = 64;

    private final ExecutorService workers;
    private final int workerThreads;
    private final ScheduledExecutorService scheduler;
    private final Map<String, ReplicaStream> streams = new ConcurrentHashMap<>();
    private volatile boolean closed;

    public RmConnection(TcClientConfig config, String clientId, List<String> resourceIds,
                        BranchCommandHandler handler, int workerThreads) {
        this.config = config;
        this.handler = handler;
        this.hello = RmHello.newBuilder()
                .setProtocolMinor(Protocol.PROTOCOL_MINOR)
                .setApplicationId(config.applicationId())
                .setClientId(clientId)
                .addAllResourceIds(resourceIds)
                .build();
        this.workerThreads = workerThreads;
        this.workers = Executors.newFixedThreadPool(workerThreads, daemon("cohort-rm-phase2"));
        this.scheduler = Executors.newSingleThreadScheduledExecutor(daemon("cohort-rm-connect"));
        scheduler.execute(this::refreshReplicas);
        scheduler.scheduleWithFixedDelay(this::refreshReplicas, 30, 30, TimeUnit.SECONDS);
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    /** Number of replicas this RM currently has an open, welcomed stream to. */
    public int connectedReplicas() {
        return (int) streams.values().stream().filter(s -> s.welcomed).count();
    }

    /** How long until the first stream waiting out its backoff reconnects on its own; null if none waits (for tests). */
    Duration reconnectDueIn() {
        Duration soonest = null;
        for (ReplicaStream s : streams.values()) {
            synchronized (s) {
                if (s.pendingReconnect != null && !s.pendingReconnect.isDone()) {
                    Duration due = Duration.ofNanos(s.pendingReconnect.getDelay(TimeUnit.NANOSECONDS));
                    soonest = soonest == null || due.compareTo(soonest) < 0 ? due : soonest;
                }
            }
        }
        return soonest;
    }

    /** Commands received on every stream and not yet taken by a worker (for tests). */
    int queuedCommands() {
        return streams.values().stream().mapToInt(s -> s.queuedCount.get()).sum();
    }

    /**
     * Reconnects at once every stream that is waiting out its reconnect backoff, and waits until every
     * known replica has welcomed this RM, at most the TC call timeout; whether all did. For an RM the
     * TC turned away because, after a TC restart, its stream had not announced its resources yet: the
     * TC answering proves it is back, so there is no reason to wait for the backoff.
     */
    public boolean reconnectNow() {
        long deadline = System.nanoTime() + config.callTimeout().toNanos();
        while (true) {
            boolean all = !streams.isEmpty();
            for (ReplicaStream s : streams.values()) {
                all &= s.welcomed;
                s.reconnectIfWaiting();
            }
            if (all) {
                return true;
            }
            if (closed || System.nanoTime() >= deadline) {
                return false;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    /** Resolves the configured addresses to individual replicas and opens a stream to any new one. */
    private void refreshReplicas() {
        if (closed) {
            return;
        }
        Map<String, String> replicas = new LinkedHashMap<>();
        for (String address : config.addresses()) {
            replicas.putAll(resolve(address));
        }
        replicas.forEach((replica, hostName) -> streams.computeIfAbsent(replica, r -> {
            ReplicaStream s = new ReplicaStream(r, hostName);
            s.connect();
            return s;
        }));
    }

    /**
     * Each replica's {@code ip:port} with the host name it was found under (which its TLS certificate
     * names), or with null for an address listed as is.
     */
    private static Map<String, String> resolve(String address) {
        Map<String, String> out = new LinkedHashMap<>();
        if (!address.contains("://")) {
            out.put(address, null);
            return out;
        }
        URI uri = URI.create(address);
        String hostPort = uri.getPath().startsWith("/") ? uri.getPath().substring(1) : uri.getPath();
        int colon = hostPort.lastIndexOf(':');
        String host = colon > 0 ? hostPort.substring(0, colon) : hostPort;
        String port = colon > 0 ? hostPort.substring(colon + 1) : String.valueOf(Protocol.DEFAULT_GRPC_PORT);
        try {
            for (InetAddress a : InetAddress.getAllByName(host)) {
                out.put(a.getHostAddress() + ":" + port, host);
            }
        } catch (UnknownHostException e) {
            log.warn("Cannot resolve TC replicas behind {}: {}", address, e.getMessage());
        }
        return out;
    }

    @Override
    public void close() {
        closed = true;
        scheduler.shutdownNow();
        for (ReplicaStream s : streams.values()) {
            s.shutdown();
        }
        workers.shutdown();
    }

    /** The commands of one message from a TC replica, with the stream their answers go back on. */
    private record Queued(List<BranchCommand> commands, StreamObserver<RmMessage> out) {
    }

    /** One replica's stream, reopened on failure. */
    private final class ReplicaStream implements StreamObserver<TcMessage> {

        private final String address;
        private final ManagedChannel channel;
        private volatile StreamObserver<RmMessage> outbound;
        private volatile boolean welcomed;
        private long backoffMs = 100;
        /** Messages of commands received and not yet taken by a worker, with the stream each came on. */
        private final ConcurrentLinkedQueue<Queued> queued = new ConcurrentLinkedQueue<>();
        /** Workers running {@link #drain} for this stream. */
        private final AtomicInteger drainers = new AtomicInteger();
        /** About the size of {@code queued} (counted apart: the queue's own size is a walk through it). */
        private final AtomicInteger queuedCount = new AtomicInteger();
        /** The scheduled reconnection while the stream waits out its backoff, else null. Guarded by this. */
        private ScheduledFuture<?> pendingReconnect;

        ReplicaStream(String address, String hostName) {
            this.address = address;
            // The stream's callbacks never block (commands go to the workers, reconnection to the scheduler):
            // they run on the network thread, without a hop to gRPC's executor for every message.
            this.channel = TcChannels.open(List.of(address), address, config.tls(), hostName, true);
        }

        void connect() {
            synchronized (this) {
                pendingReconnect = null;
            }
            if (closed) {
                return;
            }
            welcomed = false;
            // Reconnect on this class's schedule (at most 5 s apart), not after the channel's own backoff,
            // which grows to minutes during a long TC outage and would fail every attempt at once.
            channel.resetConnectBackoff();
            StreamObserver<RmMessage> out = TransactionCoordinatorGrpc.newStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(TcClient.authHeaders(config)))
                    .connect(this);
            outbound = out;
            synchronized (this) {
                out.onNext(RmMessage.newBuilder().setHello(hello).build());
            }
        }

        @Override
        public void onNext(TcMessage message) {
            switch (message.getBodyCase()) {
                case WELCOME -> {
                    welcomed = true;
                    backoffMs = 100;
                    log.info("RM {} connected to TC replica {} with resources {}", hello.getClientId(),
                            message.getWelcome().getTcAddress(), hello.getResourceIdsList());
                }
                case COMMANDS -> {
                    List<BranchCommand> commands = message.getCommands().getCommandsList();
                    // Only when nothing received earlier waits, so the order holds; no worker is woken.
                    List<BranchResult> answers = queued.isEmpty() ? answerAtOnce(commands) : null;
                    if (answers != null) {
                        send(answers, outbound);
                        return;
                    }
                    queued.add(new Queued(commands, outbound));
                    queuedCount.addAndGet(commands.size());
                    startDrainer();
                }
                default -> log.warn("Ignoring unknown message from TC replica {}: {}", address, message.getBodyCase());
            }
        }

        /** Starts one more worker on the queued commands, unless every worker is on them already. */
        private void startDrainer() {
            while (!queued.isEmpty()) {
                int running = drainers.get();
                if (running >= workerThreads) {
                    return; // one of them takes what was queued before it stops
                }
                if (drainers.compareAndSet(running, running + 1)) {
                    try {
                        workers.execute(this::drain);
                    } catch (RejectedExecutionException e) {
                        drainers.decrementAndGet(); // closing
                    }
                    return;
                }
            }
        }

        /**
         * A worker's loop: takes its share of the queued commands (whole messages, until it has at least
         * its share: what waits divided by the workers, at most {@link #MAX_BATCH}) as one batch, runs it, and goes on until the queue is empty. Commands that arrive while every worker
         * is busy thus wait for the next free one together and are handled as one batch (the RM's
         * handler does the CanCommits, and the PreCommits, of one resource in one local transaction).
         */
        private void drain() {
            try {
                while (true) {
                    Queued head = queued.poll();
                    if (head == null) {
                        return;
                    }
                    // Almost always one stream; after a reconnect, commands of the old one answer on it.
                    Map<StreamObserver<RmMessage>, List<BranchCommand>> batches = new LinkedHashMap<>();
                    // A fair share of what waits, so that a burst of commands is spread over the workers.
                    int share = Math.min(MAX_BATCH, Math.max(1, (queuedCount.get() + workerThreads - 1) / workerThreads));
                    int taken = 0;
                    for (Queued q = head; q != null; q = taken < share ? queued.poll() : null) {
                        // A message is never split: what the TC sent together is handled together, in order.
                        taken += q.commands().size();
                        queuedCount.addAndGet(-q.commands().size());
                        batches.computeIfAbsent(q.out(), o -> new ArrayList<>()).addAll(q.commands());
                    }
                    startDrainer(); // what is left goes to another worker meanwhile
                    batches.forEach((out, batch) -> run(batch, out));
                }
            } finally {
                drainers.decrementAndGet();
                startDrainer(); // a command queued after the last poll, while every worker seemed busy
            }
        }

        /** The handler's answers on the network thread, or null: a worker handles them (a surprise too). */
        private List<BranchResult> answerAtOnce(List<BranchCommand> commands) {
            try {
                return handler.answerAtOnce(commands);
            } catch (RuntimeException e) {
                log.debug("Branch command batch of {} commands (first xid={}, branchId={}) goes to a worker: {}",
                        commands.size(), commands.get(0).getXid(), commands.get(0).getBranchId(), e.toString());
                return null;
            }
        }

        private void run(List<BranchCommand> commands, StreamObserver<RmMessage> out) {
            List<BranchResult> results;
            try {
                results = handler.handle(commands);
            } catch (RuntimeException e) {
                // The TC will resend what it gets no answer for; say why here once.
                log.warn("Branch command batch of {} commands (first xid={}, branchId={}) failed: {}",
                        commands.size(), commands.get(0).getXid(), commands.get(0).getBranchId(), e.toString());
                return;
            }
            send(results, out);
        }

        private void send(List<BranchResult> results, StreamObserver<RmMessage> out) {
            RmMessage reply = RmMessage.newBuilder()
                    .setResults(BranchResults.newBuilder().addAllResults(results)).build();
            synchronized (this) {
                try {
                    out.onNext(reply);
                } catch (RuntimeException e) {
                    log.debug("Stream to {} closed before results were sent; the TC will resend", address);
                }
            }
        }

        @Override
        public void onError(Throwable t) {
            reconnectLater("stream failed: " + t.getMessage());
        }

        @Override
        public void onCompleted() {
            reconnectLater("TC closed the stream");
        }

        private void reconnectLater(String why) {
            welcomed = false;
            if (closed) {
                return;
            }
            log.warn("RM {} lost TC replica {} ({}); reconnecting in {} ms", hello.getClientId(), address, why, backoffMs);
            long delay = backoffMs;
            backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
            try {
                synchronized (this) {
                    pendingReconnect = scheduler.schedule(this::connect, delay, TimeUnit.MILLISECONDS);
                }
            } catch (RejectedExecutionException e) {
                // closing
            }
        }

        /** Connects now if the stream is waiting out its backoff (not while an attempt is in flight). */
        void reconnectIfWaiting() {
            synchronized (this) {
                if (pendingReconnect == null || !pendingReconnect.cancel(false)) {
                    return;
                }
                pendingReconnect = null;
            }
            try {
                scheduler.execute(this::connect);
            } catch (RejectedExecutionException e) {
                // closing
            }
        }

        void shutdown() {
            StreamObserver<RmMessage> out = outbound;
            if (out != null) {
                try {
                    out.onCompleted();
                } catch (RuntimeException ignored) {
                    // already broken
                }
            }
            channel.shutdownNow();
        }
    }
}
