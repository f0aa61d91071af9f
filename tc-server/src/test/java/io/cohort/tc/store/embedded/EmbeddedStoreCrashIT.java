package io.cohort.tc.store.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 in the middle of writing: a child JVM ({@link CrashWriterMain}) writes continuously and
 * prints every acknowledged write; it is killed with SIGKILL at a random moment, several rounds
 * on the same directory, and every acknowledged write must be there when the store is reopened.
 */
class EmbeddedStoreCrashIT {

    private static final int ROUNDS = 4;

    @TempDir
    Path dir;

    @Test
    void everyAcknowledgedWriteSurvivesSigkill() throws Exception {
        Path data = dir.resolve("data");
        Map<String, Integer> acked = new HashMap<>();
        for (int round = 0; round < ROUNDS; round++) {
            long acksThisRound = runAndKill(data, "r" + round, acked);
            assertThat(acksThisRound).as("acknowledged writes in round %d", round).isPositive();

            try (EmbeddedTransactionStore store = new EmbeddedTransactionStore(EmbeddedStoreConfig.defaults(data),
                    Clock.systemUTC(), new SimpleMeterRegistry())) {
                for (Map.Entry<String, Integer> e : acked.entrySet()) {
                    assertThat(observedStep(store, e.getKey()))
                            .as("step of %s after kill in round %d (acknowledged step %d)", e.getKey(), round, e.getValue())
                            .isGreaterThanOrEqualTo(e.getValue());
                }
            }
        }
    }

    /** Starts the writer, kills it with SIGKILL after a random delay, returns how many acks it printed. */
    private long runAndKill(Path data, String prefix, Map<String, Integer> acked) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                CrashWriterMain.class.getName(), data.toString(), prefix, "6")
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        long[] count = {0};
        CompletableFuture<Void> ready = new CompletableFuture<>();
        CompletableFuture<Void> firstAck = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.equals("READY")) {
                        ready.complete(null);
                    } else if (line.startsWith("ACK ")) {
                        String[] parts = line.split(" ");
                        if (parts.length == 3) {
                            synchronized (acked) {
                                acked.merge(parts[1], Integer.parseInt(parts[2]), Math::max);
                            }
                            count[0]++;
                            firstAck.complete(null);
                        }
                    }
                }
            } catch (Exception e) {
                ready.completeExceptionally(e);
                firstAck.completeExceptionally(e);
            }
        });
        reader.start();
        try {
            ready.get(60, TimeUnit.SECONDS);
            // Writes are under way before the kill, however slow the machine; then a random kill point.
            firstAck.get(60, TimeUnit.SECONDS);
            Thread.sleep(ThreadLocalRandom.current().nextLong(0, 1000));
        } finally {
            child.destroyForcibly(); // SIGKILL on Linux
            child.waitFor(30, TimeUnit.SECONDS);
            reader.join(TimeUnit.SECONDS.toMillis(30));
        }
        return count[0];
    }

    /** How far {@code xid} got, by the steps of {@link CrashWriterMain}; 0 if absent. */
    private static int observedStep(EmbeddedTransactionStore store, String xid) {
        Optional<GlobalTransaction> tx = store.findGlobal(xid);
        List<Branch> branches = store.findBranches(xid);
        if (tx.isEmpty() || branches.isEmpty()) {
            return 0;
        }
        GlobalStatus status = tx.get().status();
        boolean locked = !store.findLocks(xid).isEmpty();
        if (status == GlobalStatus.COMMITTED) {
            return locked ? 4 : 5;
        }
        if (branches.get(0).status() == BranchStatus.PHASE2_COMMITTED) {
            return 3;
        }
        return status == GlobalStatus.COMMITTING ? 2 : 1;
    }
}
