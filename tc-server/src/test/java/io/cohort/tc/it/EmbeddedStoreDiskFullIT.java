package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
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
    private boolean mounted;

    @BeforeEach
    void mountTmpfs() throws Exception {
        data = Files.createDirectories(dir.resolve("data"));
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", data.toString())
                .redirectErrorStream(true).start();
        String out = new String(mount.getInputStream().readAllBytes());
        mounted = mount.waitFor() == 0;
        Assumptions.assumeTrue(mounted, () -> "Skipped: a full disk is simulated with a mounted 8 MB tmpfs, and"
                + " 'mount -t tmpfs' was refused here (it needs root): " + out.strip());
    }

    @AfterEach
    void unmount() throws Exception {
        Path log = dir.resolve("tc.log");
        if (Files.exists(log)) { // into the failsafe report: the TC's side of a failure
            List<String> lines = Files.readAllLines(log);
            lines.subList(Math.max(0, lines.size() - 80), lines.size()).stream()
                    .filter(l -> !l.contains(" DEBUG ")).forEach(System.out::println);
        }
        if (mounted) {
            new ProcessBuilder("umount", "-l", data.toString()).inheritIO().start().waitFor();
        }
    }

    @Test
    void theStoreTakesWritesAgainOnceSpaceReturnsAndKeepsWhatItAcknowledged() throws Exception {
        TcProcess tc = TcProcess.embedded(data, "--cohort.tc.default-timeout=60s").start();
        try (TestRm rm = new TestRm(tc.grpcAddress(), "full-rm", List.of(RESOURCE))) {
            List<String> committed = new ArrayList<>();
            try (TcClient client = client(tc)) {
                for (int i = 0; i < 5; i++) {
                    committed.add(commitOne(client));
                }
                Path filler = fill(data);
                TcException refused = null;
                for (int i = 0; i < 10_000 && refused == null; i++) { // the log's last page may still take a few
                    try {
                        committed.add(commitOne(client));
                    } catch (TcException e) {
                        refused = e;
                    }
                }
                assertThat(refused).as("a write on the full disk is refused").isNotNull();
                assertThat(refused.errorCode()).isEqualTo(ErrorCode.STORE_UNAVAILABLE);
                assertThat(refused.getMessage()).contains("No space left on device").contains("free space in");
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
        TcProcess tc = TcProcess.embedded(data, "--cohort.tc.store.embedded.liveness-down-after=2s").start();
        try (TcClient client = client(tc)) {
            fill(data);
            boolean refused = false;
            for (int i = 0; i < 10_000 && !refused; i++) {
                try {
                    String xid = client.begin("full", Duration.ofSeconds(60), TransactionProtocol.TWO_PHASE);
                    client.registerBranch(xid, RESOURCE, List.of("account:" + i), new byte[0], "full-rm");
                } catch (TcException e) {
                    refused = e.errorCode() == ErrorCode.STORE_UNAVAILABLE;
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

    /** Fills the file system of {@code mount} up to its last byte; returns the filling file. */
    private static Path fill(Path mount) throws IOException {
        Path filler = mount.resolve("filler");
        try (FileChannel ch = FileChannel.open(filler, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int chunk = 1 << 20; chunk >= 1; chunk /= 2) {
                ByteBuffer buf = ByteBuffer.allocate(chunk);
                try {
                    while (true) {
                        ch.write(buf.clear());
                    }
                } catch (IOException full) {
                    // no room for a chunk this size: try smaller ones
                }
            }
        }
        return filler;
    }

    private static int status(TcProcess tc, String probe) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + tc.httpPort()
                + "/actuator/health/" + probe)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }
}
