package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a real TC process (embedded store) with SIGKILL at random moments while many clients run
 * transactions, restarts it on the same data, and checks that every outcome the TC acknowledged
 * survived and that every transaction with a registered branch ends.
 */
class TcCrashIT {

    private static final String R1 = "jdbc:postgresql://crash/a";
    private static final String R2 = "jdbc:postgresql://crash/b";
    private static final int CLIENTS = 16;
    private static final int ROUNDS = 4;
    /** Acknowledged transactions each round before the kill (the check below wants more than 200 in all). */
    private static final int ACKS_PER_ROUND = 60;

    /** What the TC acknowledged for one XID. */
    enum Acked { BEGUN, REGISTERED, COMMIT, ROLLBACK }

    private final Map<String, Acked> acked = new ConcurrentHashMap<>();

    @Test
    void acknowledgedOutcomesSurviveKillNineAndEverythingEnds(@TempDir Path dir) throws Exception {
        TcProcess tc = TcProcess.embedded(dir.resolve("data"), "--cohort.tc.default-timeout=3s",
                "--cohort.tc.recovery.max-backoff=500ms").start();
        String address = tc.grpcAddress();
        Random random = new Random();
        AtomicLong transactions = new AtomicLong();
        try (TestRm rm = new TestRm(address, "crash-rm", List.of(R1, R2))) {
            for (int round = 0; round < ROUNDS; round++) {
                AtomicBoolean running = new AtomicBoolean(true);
                ExecutorService pool = Executors.newFixedThreadPool(CLIENTS);
                TcClient client = new TcClient(new TcClientConfig(address, "crash-tm", "", Duration.ofSeconds(2), 1,
                        Duration.ofMillis(10)));
                for (int i = 0; i < CLIENTS; i++) {
                    int worker = i;
                    pool.execute(() -> workload(client, running, worker, transactions));
                }
                // Work acknowledged in this round however slow the machine, then a random kill point.
                int target = (round + 1) * ACKS_PER_ROUND;
                long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
                while (acked.size() < target) {
                    assertThat(System.nanoTime()).as("%d acknowledgements in round %d", ACKS_PER_ROUND, round)
                            .isLessThan(deadline);
                    Thread.sleep(20);
                }
                Thread.sleep(random.nextInt(1000));
                tc.kill();
                running.set(false);
                pool.shutdown();
                assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
                client.close();
                tc.start();
            }

            TcClient checker = new TcClient(TcClientConfig.of(address, "checker"));
            assertThat(acked).as("the workload ran").hasSizeGreaterThan(200);
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            for (Map.Entry<String, Acked> e : acked.entrySet()) {
                GlobalStatusCode status = awaitEnd(checker, e.getKey(), e.getValue(), deadline);
                switch (e.getValue()) {
                    case COMMIT -> assertThat(status).as(e.getKey()).isEqualTo(GlobalStatusCode.GLOBAL_COMMITTED);
                    case ROLLBACK -> assertThat(status).as(e.getKey()).isEqualTo(GlobalStatusCode.GLOBAL_ROLLBACKED);
                    case REGISTERED -> assertThat(status).as(e.getKey()).isIn(GlobalStatusCode.GLOBAL_COMMITTED,
                            GlobalStatusCode.GLOBAL_ROLLBACKED, GlobalStatusCode.GLOBAL_TIMEOUT_ROLLBACKED);
                    case BEGUN -> assertThat(status).as(e.getKey()).isIn(GlobalStatusCode.GLOBAL_UNKNOWN,
                            GlobalStatusCode.GLOBAL_COMMITTED, GlobalStatusCode.GLOBAL_ROLLBACKED,
                            GlobalStatusCode.GLOBAL_TIMEOUT_ROLLBACKED);
                }
            }
            // Every row lock was released once everything ended.
            HttpResponse<String> locks = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + tc.httpPort() + "/api/v1/locks")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(locks.body()).contains("\"total\":0");
            checker.close();
        } finally {
            tc.close();
        }
        System.out.println("crash test: " + transactions.get() + " transactions, " + acked.size() + " acknowledged");
    }

    /** Waits until the TC reports a final status; GLOBAL_UNKNOWN when it does not know the XID. */
    private static GlobalStatusCode awaitEnd(TcClient client, String xid, Acked what, long deadline) {
        while (true) {
            try {
                GlobalStatusResponse r = client.status(xid);
                GlobalStatusCode s = r.getStatus();
                if (s == GlobalStatusCode.GLOBAL_COMMITTED || s == GlobalStatusCode.GLOBAL_ROLLBACKED
                        || s == GlobalStatusCode.GLOBAL_TIMEOUT_ROLLBACKED) {
                    return s;
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError(xid + " (" + what + ") did not end: " + s + " " + r.getReason());
                }
            } catch (TcException e) {
                if (e.errorCode() == ErrorCode.UNKNOWN_XID) {
                    return GlobalStatusCode.GLOBAL_UNKNOWN;
                }
                if (System.nanoTime() > deadline) {
                    throw e;
                }
            }
            TestRm.sleep(50);
        }
    }

    private void workload(TcClient client, AtomicBoolean running, int worker, AtomicLong transactions) {
        Random random = new Random(worker);
        while (running.get()) {
            try {
                String xid = client.begin("crash", Duration.ofSeconds(3), TransactionProtocol.TWO_PHASE);
                long row = transactions.incrementAndGet();
                acked.put(xid, Acked.BEGUN);
                client.registerBranch(xid, R1, List.of("account:" + row), new byte[0], "crash-rm");
                acked.put(xid, Acked.REGISTERED);
                client.registerBranch(xid, R2, List.of("account:" + row), new byte[0], "crash-rm");
                int choice = random.nextInt(10);
                if (choice < 7) {
                    client.commit(xid);
                    acked.put(xid, Acked.COMMIT);
                } else if (choice < 9) {
                    client.rollback(xid);
                    acked.put(xid, Acked.ROLLBACK);
                } // else: abandoned, the TC times it out
            } catch (TcException e) {
                // The TC died under us: whatever was not acknowledged is not promised.
                if (!running.get()) {
                    return;
                }
                TestRm.sleep(5);
            }
        }
    }

}
