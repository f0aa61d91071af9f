package io.cohort.tc.store.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.GlobalStatus;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real write failure: the child ({@link DiskFullWriterMain}) runs under {@code ulimit -f}, so
 * the log write that crosses the limit fails with EFBIG. The failed store must refuse writes and
 * reads and report unhealthy; after a restart every acknowledged write is there.
 */
class EmbeddedStoreWriteFailureIT {

    @TempDir
    Path dir;

    @Test
    void aFailedWriteFailsTheStoreAndLosesNothingAcknowledged() throws Exception {
        Path data = dir.resolve("data");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String command = "ulimit -f 64; exec '" + java + "' -Xmx128m -cp '" + System.getProperty("java.class.path")
                + "' " + DiskFullWriterMain.class.getName() + " '" + data + "'";
        Process child = new ProcessBuilder("bash", "-c", command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        List<String> lines = new ArrayList<>();
        Map<String, Integer> acked = new HashMap<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("ACK ")) {
                    String[] parts = line.split(" ");
                    acked.merge(parts[1], Integer.parseInt(parts[2]), Math::max);
                } else if (!line.contains(" DEBUG ") && !line.contains(" INFO ")) {
                    lines.add(line);
                }
            }
        }
        assertThat(child.waitFor(60, TimeUnit.SECONDS)).isTrue();

        assertThat(acked).isNotEmpty();
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("FAILED StoreUnavailableException")
                .contains("log-00000000000000000000.wal").contains("File too large"));
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("HEALTH StoreUnavailableException"));
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("READ StoreUnavailableException"));
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("LATER StoreUnavailableException"));
        assertThat(lines).contains("CLOSED");

        try (EmbeddedTransactionStore store = new EmbeddedTransactionStore(EmbeddedStoreConfig.defaults(data),
                Clock.systemUTC(), new SimpleMeterRegistry())) {
            acked.forEach((xid, step) -> {
                assertThat(store.findBranches(xid)).as("branch of %s", xid).hasSize(1);
                if (step == 2) {
                    assertThat(store.findGlobal(xid).orElseThrow().status()).isEqualTo(GlobalStatus.COMMITTED);
                }
            });
            store.checkHealth();
        }
    }
}
