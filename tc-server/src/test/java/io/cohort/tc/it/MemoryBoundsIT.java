package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TC's heap is bounded by its settings, not by traffic: a real TC process with a small
 * {@code -Xmx} takes a begin flood past its caps, and many finished transactions, and restarts on
 * their log. Heap is measured after a full GC ({@code jcmd <pid> GC.run}) through the actuator's
 * {@code jvm.memory.used} of the heap area.
 */
class MemoryBoundsIT {

    private static final Pattern VALUE = Pattern.compile("\"statistic\":\"VALUE\",\"value\":([0-9.Ee+]+)");

    @Test
    void beginsPastTheCapsAreRefusedWithResourceExhaustedAndTheHeapStaysPut(@TempDir Path dir) throws Exception {
        int maxActive = 3000;
        int perApplication = 2000;
        try (TcProcess tc = TcProcess.embedded(dir.resolve("data"), "--cohort.tc.default-timeout=10m",
                "--cohort.tc.limits.max-active-transactions=" + maxActive,
                "--cohort.tc.limits.max-active-per-application=" + perApplication)
                .jvmOptions("-Xmx64m", "-XX:+ExitOnOutOfMemoryError").start();
             TcClient a = client(tc, "flood-a");
             TcClient b = client(tc, "flood-b")) {

            assertThat(beginUntilRefused(a, perApplication + 1)).as("begins of flood-a").isEqualTo(perApplication);
            TcException perApp = refusal(a);
            assertThat(perApp.getMessage()).contains("flood-a").contains("cohort.tc.limits.max-active-per-application");

            assertThat(beginUntilRefused(b, maxActive)).as("begins of flood-b").isEqualTo(maxActive - perApplication);
            TcException all = refusal(b);
            assertThat(all.getMessage()).contains("cohort.tc.limits.max-active-transactions = " + maxActive);

            long atCap = heapAfterGc(tc);
            ExecutorService pool = Executors.newFixedThreadPool(8);
            List<Future<Integer>> flood = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                TcClient c = i % 2 == 0 ? a : b;
                flood.add(pool.submit(() -> refusedBegins(c, 2500)));
            }
            for (Future<Integer> f : flood) {
                assertThat(f.get(5, TimeUnit.MINUTES)).as("begins that got through the flood").isZero();
            }
            pool.shutdown();
            long afterFlood = heapAfterGc(tc);
            System.out.printf("memory: heap after GC at the cap of %d active: %d KiB; after 20,000 refused begins: %d KiB%n",
                    maxActive, atCap / 1024, afterFlood / 1024);
            assertThat(afterFlood).as("heap after GC after the refused flood, vs at the cap").isLessThan(atCap + (8 << 20));
            assertThat(rest(tc, "/api/v1/transactions?status=BEGIN&size=1")).contains("\"total\":" + maxActive);
        }
    }

    @Test
    void manyFinishedTransactionsFitASmallHeapAndSoDoesTheRestartOnTheirLog(@TempDir Path dir) throws Exception {
        int transactions = 100_000;
        int kept = 5000;
        String[] heap = {"-Xmx64m", "-XX:+ExitOnOutOfMemoryError"};
        TcProcess tc = TcProcess.embedded(dir.resolve("data"), "--cohort.tc.store.embedded.fsync=false",
                "--cohort.tc.limits.ended-kept=" + kept).jvmOptions(heap).start();
        try (TcClient client = client(tc, "many")) {
            String first = client.begin("first", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
            client.commit(first);
            String last = null;
            long firstCheckpoint = -1;
            int threads = 8;
            int step = 20_000;
            for (int done = 0; done < transactions; done += step) {
                long stepStarted = System.nanoTime();
                ExecutorService pool = Executors.newFixedThreadPool(threads);
                List<Future<String>> work = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    work.add(pool.submit(() -> {
                        String xid = null;
                        for (int i = 0; i < step / threads; i++) {
                            xid = client.begin("many", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
                            client.commit(xid);
                        }
                        return xid;
                    }));
                }
                for (Future<String> f : work) {
                    last = f.get(10, TimeUnit.MINUTES);
                }
                pool.shutdown();
                long rate = step * 1_000_000_000L / (System.nanoTime() - stepStarted);
                assertThat(tc.isAlive()).as("TC alive after %d transactions (see %s)", done + step, tc.log()).isTrue();
                long used = heapAfterGc(tc);
                firstCheckpoint = firstCheckpoint < 0 ? used : firstCheckpoint;
                System.out.printf("memory: heap after GC after %d finished transactions: %d KiB (%d transactions/s)%n",
                        done + step, used / 1024, rate);
            }
            awaitNoneUnfinished(tc);
            long atEnd = heapAfterGc(tc);
            // 80,000 more retained transactions would be ~32 MB at ~400 bytes each.
            assertThat(atEnd).as("heap after GC at the end vs after the first %d", step).isLessThan(firstCheckpoint + (10 << 20));

            tc.kill();
            tc.start();
            assertThat(rest(tc, "/api/v1/transactions?status=COMMITTED&size=1")).contains("\"total\":" + kept);
            RawHttp.Response gone = RawHttp.send(tc.httpPort(), "GET", "/api/v1/transactions/" + first);
            assertThat(gone.status()).isEqualTo(404);
            assertThat(gone.body()).contains("cohort.tc.limits.ended-kept");
            assertThat(RawHttp.send(tc.httpPort(), "GET", "/api/v1/transactions/" + last).status()).isEqualTo(200);
            System.out.printf("memory: heap after GC after the restart on the log of %d transactions: %d KiB%n",
                    transactions, heapAfterGc(tc) / 1024);
        } finally {
            tc.close();
        }
    }

    private static TcClient client(TcProcess tc, String applicationId) {
        return new TcClient(new TcClientConfig(tc.grpcAddress(), applicationId, "", Duration.ofSeconds(30), 1,
                Duration.ofMillis(10)));
    }

    /** Begins until one is refused or {@code most} succeeded; returns how many succeeded. */
    private static int beginUntilRefused(TcClient client, int most) {
        for (int n = 0; n < most; n++) {
            try {
                client.begin("flood", Duration.ZERO, TransactionProtocol.TWO_PHASE);
            } catch (TcException e) {
                if (e.errorCode() == ErrorCode.TOO_MANY_TRANSACTIONS) {
                    return n;
                }
                throw e;
            }
        }
        return most;
    }

    /** Tries {@code attempts} begins; returns how many were NOT refused for too many transactions. */
    private static int refusedBegins(TcClient client, int attempts) {
        int through = 0;
        for (int i = 0; i < attempts; i++) {
            through += beginUntilRefused(client, 1);
        }
        return through;
    }

    /** The next begin's refusal: RESOURCE_EXHAUSTED with the error-code trailer. */
    private static TcException refusal(TcClient client) {
        TcException e = catchThrowableOfType(() -> client.begin("one more", Duration.ZERO,
                TransactionProtocol.TWO_PHASE), TcException.class);
        assertThat(e).as("a begin past the cap is refused").isNotNull();
        assertThat(e.errorCode()).isEqualTo(ErrorCode.TOO_MANY_TRANSACTIONS);
        StatusRuntimeException wire = (StatusRuntimeException) e.getCause();
        assertThat(wire.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(wire.getTrailers().get(Protocol.ERROR_CODE_TRAILER)).isEqualTo("TOO_MANY_TRANSACTIONS");
        return e;
    }

    private static void awaitNoneUnfinished(TcProcess tc) throws InterruptedException {
        // The driver finishes committed transactions within its recovery interval (200 ms in TcProcess).
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (!rest(tc, "/api/v1/transactions?status=ASYNC_COMMITTING&size=1").contains("\"total\":0")) {
            assertThat(System.nanoTime()).as("every commit finished").isLessThan(deadline);
            Thread.sleep(100);
        }
    }

    private static String rest(TcProcess tc, String target) {
        RawHttp.Response r = RawHttp.send(tc.httpPort(), "GET", target);
        assertThat(r.status()).as("GET %s: %s", target, r.body()).isEqualTo(200);
        return r.body();
    }

    /** Bytes of heap in use right after a full GC of the TC process. */
    private static long heapAfterGc(TcProcess tc) throws IOException, InterruptedException {
        String url = "/actuator/metrics/jvm.memory.used?tag=area:heap";
        rest(tc, url); // the endpoint's first call initialises much of Spring MVC: not after the GC
        Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(tc.pid()), "GC.run").redirectErrorStream(true).start();
        String out = new String(jcmd.getInputStream().readAllBytes());
        assertThat(jcmd.waitFor()).as("jcmd GC.run: %s", out).isZero();
        String metric = rest(tc, url);
        Matcher m = VALUE.matcher(metric);
        assertThat(m.find()).as("jvm.memory.used in %s", metric).isTrue();
        return (long) Double.parseDouble(m.group(1));
    }
}
