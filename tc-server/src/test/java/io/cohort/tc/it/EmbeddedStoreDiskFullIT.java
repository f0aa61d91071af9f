package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.client.TcStoreUnavailableException;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.store.embedded.SmallTmpfs;
import io.cohort.testsupport.TcProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real full disk under a real TC: its data directory is a small tmpfs (mounting needs root; the
 * tests are skipped elsewhere), filled by a file until writes fail with ENOSPC.
 */
class EmbeddedStoreDiskFullIT {

    private static final String RESOURCE = "jdbc:postgresql://full/a";
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path dir;
    private Path data;
    private SmallTmpfs disk;

    @BeforeEach
    void mountTmpfs() throws Exception {
        data = dir.resolve("data");
        disk = SmallTmpfs.mountOrSkip(data);
    }

    @AfterEach
    void unmount() throws Exception {
        Path log = dir.resolve("tc.log");
        if (Files.exists(log)) { // into the failsafe report: the TC's side of a failure
            List<String> lines = Files.readAllLines(log);
            lines.subList(Math.max(0, lines.size() - 80), lines.size()).stream()
                    .filter(l -> !l.contains(" DEBUG ")).forEach(System.out::println);
        }
        if (disk != null) {
            disk.close();
        }
    }

    @Test
    void theStoreTakesWritesAgainOnceSpaceReturnsAndKeepsWhatItAcknowledged() throws Exception {
        TcProcess tc = TcProcess.embedded(data, "--cohort.tc.default-timeout=60s");
        try (TestRm rm = new TestRm(tc.start().grpcAddress(), "full-rm", List.of(RESOURCE))) {
            List<String> committed = new ArrayList<>();
            try (TcClient client = client(tc)) {
                for (int i = 0; i < 5; i++) {
                    committed.add(commitOne(client));
                }
                Path filler = disk.fill();
                TcException refused = null;
                for (int i = 0; i < 10_000 && refused == null; i++) { // the log's last page may still take a few
                    try {
                        committed.add(commitOne(client));
                    } catch (TcException e) {
                        refused = e;
                    }
                }
                assertThat(refused).as("a write on the full disk is refused").isNotNull();
                // The client reports the TC's STORE_UNAVAILABLE as such; the TC's description names the cause.
                assertThat(refused).isInstanceOf(TcStoreUnavailableException.class);
                assertThat(refused.getMessage()).contains("its store cannot write").contains("nothing was changed")
                        .contains("No space left on device").contains("free space in");
                assertThat(status(tc, "liveness")).as("liveness within its bound").isEqualTo(200);

                Files.delete(filler);
                long deadline = System.nanoTime() + WAIT.toNanos();
                String again = null;
                while (again == null) {
                    try {
                        again = commitOne(client);
                    } catch (TcException e) {
                        assertThat(System.nanoTime()).as("writes succeed again after space returned: %s", e.getMessage())
                                .isLessThan(deadline);
                        TestRm.sleep(100);
                    }
                }
                committed.add(again);
                committed.add(commitOne(client));
                assertThat(status(tc, "readiness")).isEqualTo(200);
            }
            tc.close();
            tc.start();
            try (TcClient checker = client(tc)) {
                long deadline = System.nanoTime() + WAIT.toNanos();
                for (String xid : committed) { // phase 2 of the last ones may resume after the restart
                    GlobalStatusCode s;
                    while ((s = checker.status(xid).getStatus()) != GlobalStatusCode.GLOBAL_COMMITTED) {
                        assertThat(s).as(xid).isEqualTo(GlobalStatusCode.GLOBAL_COMMITTING);
                        assertThat(System.nanoTime()).as("%s committed after the restart", xid).isLessThan(deadline);
                        TestRm.sleep(100);
                    }
                }
            }
        } finally {
            tc.close();
        }
    }

    @Test
    void livenessGoesDownWhenTheStoreStaysFailedPastItsBound() throws Exception {
        TcProcess tc = TcProcess.embedded(data, "--cohort.tc.store.embedded.liveness-down-after=2s");
        try (TcClient client = client(tc.start())) {
            disk.fill();
            boolean refused = false;
            for (int i = 0; i < 10_000 && !refused; i++) {
                try {
                    String xid = client.begin("full", Duration.ofSeconds(60), TransactionProtocol.TWO_PHASE);
                    client.registerBranch(xid, RESOURCE, List.of("account:" + i), new byte[0], "full-rm");
                } catch (TcException e) {
                    refused = e.getMessage().contains("No space left on device");
                }
            }
            assertThat(refused).as("a write on the full disk is refused").isTrue();
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (status(tc, "liveness") != 503) {
                assertThat(System.nanoTime()).as("liveness DOWN after the store stayed failed for 2 s").isLessThan(deadline);
                TestRm.sleep(200);
            }
            assertThat(status(tc, "readiness")).isEqualTo(503);
        } finally {
            tc.close();
        }
    }

    private static TcClient client(TcProcess tc) {
        return new TcClient(new TcClientConfig(tc.grpcAddress(), "full-tm", "", Duration.ofSeconds(10), 1,
                Duration.ofMillis(10)));
    }

    /** A transaction with one branch, committed; its XID once the TC acknowledged the commit. */
    private static String commitOne(TcClient client) {
        String xid = client.begin("full", Duration.ofSeconds(60), TransactionProtocol.TWO_PHASE);
        client.registerBranch(xid, RESOURCE, List.of("account:" + xid), new byte[0], "full-rm");
        client.commit(xid);
        return xid;
    }

    private static int status(TcProcess tc, String probe) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + tc.httpPort()
                + "/actuator/health/" + probe)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }
}
