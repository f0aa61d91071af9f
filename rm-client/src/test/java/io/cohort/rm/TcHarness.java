package io.cohort.rm;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.testsupport.TcProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The real TC for the RM's integration tests: tc-server's jar as a child process (embedded store),
 * the TM's side ({@link TcClient}: begin, commit, rollback, status) and the TC's REST API. The TC
 * may serve a whole test class; the TM's client is each test's own ({@link #freshTm}).
 */
final class TcHarness implements AutoCloseable {

    /**
     * How long a test waits for an RM's command stream to be welcomed, or for an RM to reconnect to a
     * restarted TC: a cold JVM's first gRPC connection on a loaded 2-core machine takes seconds, not
     * a call timeout; only a hang should fail this wait.
     */
    static final Duration CONNECT_WAIT = Duration.ofSeconds(60);

    private static final Pattern TOTAL = Pattern.compile("\"total\"\\s*:\\s*(\\d+)");
    private static final Pattern BRANCH_ID = Pattern.compile("\"branchId\"\\s*:\\s*(\\d+)");

    final TcProcess process;
    private TcClient tm;
    private final HttpClient http = HttpClient.newHttpClient();

    private TcHarness(TcProcess process) {
        this.process = process;
        this.tm = new TcClient(tcConfig("rm-it-tm"));
    }

    /** Starts a TC on a fresh embedded store; {@code args} are extra {@code --name=value} settings. */
    static TcHarness start(String... args) {
        try {
            Path dir = Files.createTempDirectory("cohort-rm-it");
            List<String> all = new ArrayList<>(List.of("--cohort.tc.store.embedded.fsync=false"));
            all.addAll(List.of(args));
            return new TcHarness(TcProcess.embedded(dir.resolve("data"), all.toArray(String[]::new)).start());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    TcClientConfig tcConfig(String applicationId) {
        return new TcClientConfig(process.grpcAddress(), applicationId, "", Duration.ofSeconds(5), 3,
                Duration.ofMillis(100));
    }

    TcClient tm() {
        return tm;
    }

    /**
     * Closes the TM's client and opens another, for a test's start: its calls then go over a new
     * channel through a closed circuit breaker, whatever an earlier test's outage did to the old
     * client. Branch coordinators built on the old client must be built again too.
     */
    TcClient freshTm() {
        tm.close();
        tm = new TcClient(tcConfig("rm-it-tm"));
        return tm;
    }

    /**
     * Begins as the TM does by default: with no call to the TC once this client knows its TC speaks
     * protocol minor 8 (after the client's first Begin), so the RM's first registration creates it.
     */
    String begin(Duration timeout) {
        String xid = tm.beginLocally("rm-it", timeout, null);
        return xid != null ? xid : tm.begin("rm-it", timeout, null);
    }

    GlobalStatus status(String xid) {
        return GlobalStatus.fromWire(tm.status(xid).getStatus());
    }

    /** Waits until the TC stops driving {@code xid} (final, or waiting for a person) and returns its status. */
    GlobalStatusResponse awaitEnded(String xid, Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        while (true) {
            GlobalStatusResponse r = tm.status(xid);
            if (GlobalStatus.fromWire(r.getStatus()).isEnded() || System.nanoTime() > deadline) {
                return r;
            }
            sleep(5);
        }
    }

    /** Waits until {@code xid} has status {@code expected}; fails with the status and the TC's reason otherwise. */
    void awaitStatus(String xid, GlobalStatus expected, Duration max) {
        await(() -> status(xid) == expected, max, () -> xid + " to reach " + expected + " (now " + status(xid)
                + ", reason: " + tm.status(xid).getReason() + ")");
    }

    /** A condition the ITs wait for; it may throw (a query to a database or the TC). */
    @FunctionalInterface
    interface Condition {
        boolean holds() throws Exception;
    }

    /** Polls {@code condition} until it holds; an {@link AssertionError} naming {@code what} after {@code max}. */
    static void await(Condition condition, Duration max, java.util.function.Supplier<String> what) {
        long deadline = System.nanoTime() + max.toNanos();
        try {
            while (!condition.holds()) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("Not within " + max.toMillis() + " ms: " + what.get());
                }
                sleep(20);
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("While waiting for " + what.get() + ": " + e.getMessage(), e);
        }
    }

    GlobalStatus commitAndWait(String xid) {
        tm.commit(xid);
        return GlobalStatus.fromWire(awaitEnded(xid, Duration.ofSeconds(20)).getStatus());
    }

    GlobalStatus rollbackAndWait(String xid) {
        tm.rollback(xid);
        return GlobalStatus.fromWire(awaitEnded(xid, Duration.ofSeconds(20)).getStatus());
    }

    /** {@code GET} on the REST API; the body. */
    String get(String path) {
        return call(HttpRequest.newBuilder(uri(path)).GET().build());
    }

    String post(String path) {
        return call(HttpRequest.newBuilder(uri(path)).POST(HttpRequest.BodyPublishers.noBody()).build());
    }

    /** Global row locks held at the TC, all resources. */
    long lockCount() {
        Matcher m = TOTAL.matcher(get("/api/v1/locks?size=1"));
        if (!m.find()) {
            throw new IllegalStateException("no total in the lock listing");
        }
        return Long.parseLong(m.group(1));
    }

    /** Branch ids of a transaction the TC still knows branches of. */
    List<Long> branchIds(String xid) {
        // Only the "branches" array: the detail's "locks" and "history" that follow name branch ids too
        // (a raw quote can only stand in JSON as a key's, so the key "locks" ends the array).
        String detail = get("/api/v1/transactions/" + xid);
        int from = detail.indexOf("\"branches\"");
        int to = detail.indexOf("\"locks\"", Math.max(from, 0));
        if (from < 0 || to < 0) {
            throw new AssertionError("no branches and locks in the TC's answer for " + xid + ": " + detail);
        }
        Matcher m = BRANCH_ID.matcher(detail.substring(from, to));
        List<Long> ids = new ArrayList<>();
        while (m.find()) {
            ids.add(Long.parseLong(m.group(1)));
        }
        return ids;
    }

    /** SIGKILL, then the same TC on the same data and ports; the TM's client is kept (it reconnects). */
    void killAndRestart() {
        process.kill();
        process.start();
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + process.httpPort() + path);
    }

    private String call(HttpRequest request) {
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() >= 300) {
                throw new IllegalStateException(request.uri() + " answered " + response.statusCode() + ": " + response.body());
            }
            return response.body();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        tm.close();
        process.close();
    }
}
