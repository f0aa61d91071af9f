package io.cohort.client;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Asks every TC replica at once for a transaction's status and knows within one short deadline,
 * whatever the network does, whether any of them answered. For a caller about to act on "no TC
 * answers" (the RM's three-phase termination): the application's {@link TcClient} waits for
 * connections and retries, which is right for a business call and wrong here, where one slow "no"
 * would hold up every branch waiting behind it.
 *
 * <p>Opened for one round of questions and closed after it: each listed replica (or the one gRPC
 * target, which may resolve to several) gets a fresh channel, so no earlier failure, connection
 * backoff or circuit breaker is remembered. Calls do not wait for a connection: a refused port or a
 * name that does not resolve fails at once; a port that swallows connections, or a resolver that
 * never answers, is cut off by the deadline. The asking thread never waits on the network itself,
 * only on the calls, for the deadline and a few milliseconds of grace.
 */
public final class TcProbe implements AutoCloseable {

    /** Time past the deadline allowed for gRPC to deliver DEADLINE_EXCEEDED before the probe stops waiting. */
    private static final long GRACE_MILLIS = 50;

    private final TcClientConfig config;
    private final Duration deadline;
    private final List<String> targets;
    private final List<TransactionCoordinatorGrpc.TransactionCoordinatorFutureStub> stubs = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();

    public TcProbe(TcClientConfig config, Duration deadline) {
        if (deadline == null || deadline.toMillis() < 10) {
            throw new IllegalArgumentException("TC probe deadline must be at least 10ms, was " + deadline);
        }
        this.config = config;
        this.deadline = deadline;
        this.targets = config.addresses();
        for (String target : targets) {
            ManagedChannel channel = TcChannels.open(List.of(target), null, config.tls());
            channels.add(channel);
            stubs.add(TransactionCoordinatorGrpc.newFutureStub(channel)
                    .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(TcClient.authHeaders(config))));
        }
    }

    /**
     * The status of {@code xid} from the first replica that answers. Throws {@link TcException} when a
     * replica answered with an error of its own (unknown XID, refused token: it is up), and
     * {@link TcUnavailableException} when none answered within the deadline, saying what each did.
     */
    public GlobalStatusResponse status(String xid) {
        GlobalRequest request = GlobalRequest.newBuilder().setProtocolMinor(Protocol.PROTOCOL_MINOR).setXid(xid).build();
        int n = stubs.size();
        String[] failures = new String[n];
        AtomicReference<Object> answer = new AtomicReference<>(); // a response, or the TC's own error
        CountDownLatch done = new CountDownLatch(n);
        List<ListenableFuture<GlobalStatusResponse>> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int replica = i;
            ListenableFuture<GlobalStatusResponse> call = stubs.get(i)
                    .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS).getStatus(request);
            calls.add(call);
            call.addListener(() -> {
                Object outcome = outcomeOf(call, xid, targets.get(replica));
                if (outcome instanceof String failure) {
                    failures[replica] = failure;
                    done.countDown();
                } else if (answer.compareAndSet(null, outcome)) {
                    while (done.getCount() > 0) {
                        done.countDown(); // one answer is enough
                    }
                }
            }, MoreExecutors.directExecutor());
        }
        try {
            done.await(deadline.toMillis() + GRACE_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        calls.forEach(c -> c.cancel(true)); // those still running: their answer no longer matters
        Object outcome = answer.get();
        if (outcome instanceof GlobalStatusResponse response) {
            return response;
        }
        if (outcome instanceof TcException refused) {
            throw refused;
        }
        StringBuilder detail = new StringBuilder("no TC replica answered within ").append(deadline.toMillis()).append(" ms (");
        for (int i = 0; i < n; i++) {
            String failure = failures[i];
            detail.append(i == 0 ? "" : "; ").append(targets.get(i)).append(": ").append(failure == null ? "no answer" : failure);
        }
        throw new TcUnavailableException(detail.append(')').toString(), null);
    }

    /** The response, the TC's own error as a {@link TcException}, or (a String) why no TC answered; {@code call} is done. */
    private Object outcomeOf(ListenableFuture<GlobalStatusResponse> call, String xid, String target) {
        try {
            return call.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof StatusRuntimeException grpc && answeredWithError(grpc)) {
                return TcClient.toException("status", xid, target, grpc);
            }
            Status status = Status.fromThrowable(e.getCause());
            return oneLine(status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription()));
        } catch (InterruptedException | CancellationException e) {
            return "cancelled";
        }
    }

    /** An error the TC itself sent: it carries the TC's error code, or is the TC refusing the caller. */
    private static boolean answeredWithError(StatusRuntimeException e) {
        if (e.getTrailers() != null && e.getTrailers().get(Protocol.ERROR_CODE_TRAILER) != null) {
            return true;
        }
        Status.Code code = e.getStatus().getCode();
        return code == Status.Code.UNAUTHENTICATED || code == Status.Code.PERMISSION_DENIED;
    }

    private static String oneLine(String s) {
        return s.replaceAll("[\\r\\n]+", " ");
    }

    /** Closes the channels at once: nothing is left connecting to a replica that did not answer. */
    @Override
    public void close() {
        channels.forEach(ManagedChannel::shutdownNow);
    }
}
