package io.cohort.tc.store.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.store.StoreUnavailableException;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The store on a real full disk (a small tmpfs): writes are refused with the cause, and once space
 * returns the store takes writes again by itself, keeping every acknowledged transaction and none
 * of the failed ones. {@code EmbeddedStoreDiskFullIT} does the same through a TC process.
 */
class EmbeddedStoreFullDiskTest {

    @TempDir
    Path dir;
    private long n;

    @Test
    void aFullDiskFailsTheStoreUntilSpaceReturnsThenItReopensByItself() throws Exception {
        try (SmallTmpfs disk = SmallTmpfs.mountOrSkip(dir.resolve("data"))) {
            EmbeddedStoreConfig config = new EmbeddedStoreConfig(dir.resolve("data"), 1L << 40, true, Duration.ZERO, 4096);
            List<String> acked = new ArrayList<>();
            EmbeddedTransactionStore store = new EmbeddedTransactionStore(config, Clock.systemUTC(), new SimpleMeterRegistry());
            try {
                for (int i = 0; i < 5; i++) {
                    acked.add(commitOne(store));
                }
                Path filler = disk.fill();
                StoreUnavailableException refused = null;
                for (int i = 0; i < 100_000 && refused == null; i++) { // the log's last page may take a few more
                    try {
                        acked.add(commitOne(store));
                    } catch (CompletionException e) {
                        refused = (StoreUnavailableException) e.getCause();
                    }
                }
                assertThat(refused).isNotNull();
                assertThat(refused.getMessage()).contains("No space left on device").contains("free space in");
                assertThatThrownBy(() -> commitOne(store)).hasCauseInstanceOf(StoreUnavailableException.class);
                assertThat(store.failedFor()).isPositive();

                Files.delete(filler);
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                String again = null;
                while (again == null) {
                    try {
                        again = commitOne(store);
                    } catch (CompletionException | StoreUnavailableException e) {
                        assertThat(System.nanoTime()).as("writes succeed again: %s", e.getMessage()).isLessThan(deadline);
                        Thread.sleep(50);
                    }
                }
                acked.add(again);
                assertThat(store.failedFor()).isZero();
                store.checkHealth();
            } finally {
                store.close();
            }
            try (EmbeddedTransactionStore reopened = new EmbeddedTransactionStore(config, Clock.systemUTC(),
                    new SimpleMeterRegistry())) {
                for (String xid : acked) {
                    assertThat(reopened.findGlobal(xid).orElseThrow().status()).as(xid).isEqualTo(GlobalStatus.COMMITTED);
                }
                // The transaction whose commit failed is there as far as it was acknowledged: begun, not committed.
                assertThat(reopened.findUnended()).allSatisfy(tx -> assertThat(tx.status()).isEqualTo(GlobalStatus.BEGIN));
            }
        }
    }

    /** Begin, one branch, commit; the XID once the commit is durable. */
    private String commitOne(EmbeddedTransactionStore store) {
        String xid = "full:" + n++;
        long now = System.currentTimeMillis();
        store.insertGlobal(new GlobalTransaction(xid, "transfer", "full", TransactionProtocol.TWO_PHASE,
                GlobalStatus.BEGIN, now, 60_000, "", "", now)).join();
        store.registerBranch(new Branch(xid, n, "db", "rm", List.of("account:" + n), new byte[64],
                BranchStatus.REGISTERED, now, ""), List.of(new RowKey("db", "account", Long.toString(n)))).join();
        store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
        return xid;
    }
}
