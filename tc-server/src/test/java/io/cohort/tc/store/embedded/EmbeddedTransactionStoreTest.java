package io.cohort.tc.store.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.StatusChange;
import io.cohort.tc.store.GlobalQuery;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.TransactionStore;
import io.cohort.tc.store.TransactionStoreContractTest;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The store contract on the embedded store, plus what only a file-based store has. */
class EmbeddedTransactionStoreTest extends TransactionStoreContractTest {

    @TempDir
    Path dir;

    SimpleMeterRegistry registry = new SimpleMeterRegistry();

    /** Overridden per test before the store is (re)opened. */
    EmbeddedStoreConfig config;

    EmbeddedStoreConfig config() {
        if (config == null) {
            config = EmbeddedStoreConfig.defaults(dir.resolve("data"));
        }
        return config;
    }

    @Override
    protected TransactionStore newStore() {
        return new EmbeddedTransactionStore(config(), clock, registry);
    }

    @Override
    protected TransactionStore reopen(TransactionStore current) {
        current.close();
        return new EmbeddedTransactionStore(config(), clock, registry);
    }

    // ---------------------------------------------------------------- bounded memory

    @Test
    void onlyTheMostRecentlyFinishedAreKeptAndRecoveryKeepsTheSameOnes() throws Exception {
        config = config().withEndedKept(3).withCompactionThresholdBytes(EmbeddedStoreConfig.MIN_COMPACTION_THRESHOLD_BYTES);
        store = reopen(store);
        // Finished in the order 4, 0, 5, 1, 3, 2 (not the order begun); 6 stays unfinished, 7 waits for a person.
        for (int i = 0; i < 8; i++) {
            store.insertGlobal(global("tc:" + i, 100 + i)).join();
        }
        for (int i : new int[] {4, 0, 5, 1, 3, 2}) {
            clock.advance(Duration.ofMillis(10));
            assertThat(store.transitionGlobal("tc:" + i, GlobalStatus.BEGIN, GlobalStatus.ROLLBACKED, "done").join()).isTrue();
        }
        store.transitionGlobal("tc:7", GlobalStatus.BEGIN, GlobalStatus.ROLLBACK_FAILED, "a person must look").join();

        assertKept(List.of("tc:1", "tc:3", "tc:2"), List.of("tc:4", "tc:0", "tc:5"));
        assertThat(store.countUnfinished("bank")).isEqualTo(new TransactionStore.Unfinished(2, 2));
        assertThat(store.whyUnknown()).contains("3 most recently finished").contains("cohort.tc.limits.ended-kept");

        // Enough writes for a compaction: the snapshot holds only what is kept.
        for (int i = 0; i < 40; i++) {
            store.markHeuristic("tc:6", "evidence " + i).join();
        }
        awaitSnapshot();
        store = reopen(store);
        assertKept(List.of("tc:1", "tc:3", "tc:2"), List.of("tc:4", "tc:0", "tc:5"));
        assertThat(store.countUnfinished("bank")).isEqualTo(new TransactionStore.Unfinished(2, 2));

        // A smaller setting applies on the next start: replay keeps the newest.
        config = config.withEndedKept(1);
        store = reopen(store);
        assertKept(List.of("tc:2"), List.of("tc:1", "tc:3"));
        assertThat(store.findGlobal("tc:6")).isPresent();
        assertThat(store.findGlobal("tc:7")).isPresent();
    }

    @Test
    void replayOfALongLogKeepsOnlyTheNewestFinished() throws Exception {
        config = config().withEndedKept(10);
        store = reopen(store);
        for (int i = 0; i < 500; i++) {
            clock.advance(Duration.ofMillis(1));
            store.insertGlobal(global("tc:" + i, clock.millis())).join();
            store.transitionGlobal("tc:" + i, GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
        }
        store = reopen(store);
        assertThat(store.listGlobals(GlobalQuery.ALL, 0, 1000).total()).isEqualTo(10);
        assertThat(store.findGlobal("tc:499")).isPresent();
        assertThat(store.findGlobal("tc:489")).isEmpty();
        assertThat(store.countByStatus().get(GlobalStatus.COMMITTED)).isEqualTo(10);
    }

    private void assertKept(List<String> kept, List<String> gone) {
        for (String xid : kept) {
            assertThat(store.findGlobal(xid)).as(xid).isPresent();
        }
        for (String xid : gone) {
            assertThat(store.findGlobal(xid)).as(xid).isEmpty();
        }
        assertThat(store.countByStatus().get(GlobalStatus.ROLLBACKED)).isEqualTo(kept.size());
    }

    private void awaitSnapshot() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (LogFiles.list(dir.resolve("data"), false).snapshots().isEmpty()) {
            assertThat(System.nanoTime()).as("a snapshot was written").isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    // ---------------------------------------------------------------- recovery

    @Test
    void tornTailAfterACrashIsTruncatedAndReportedAsTheUnacknowledgedBatch() throws Exception {
        writeTransfers(3);
        StoreView before = StoreView.of(store);
        store.close();
        Files.delete(CleanClose.file(dir.resolve("data"))); // a crash closes nothing
        Path log = newestLog();
        long goodSize = Files.size(log);
        byte[] frame = RecordCodec.encode(new LogRecord.DeleteBranches("tc:torn"));
        append(log, java.util.Arrays.copyOf(frame, frame.length - 3)); // the last write was cut short

        ListAppender<ILoggingEvent> logs = captureLogs(Recovery.class);
        store = reopen(store);

        assertThat(StoreView.of(store)).usingRecursiveComparison().isEqualTo(before);
        assertThat(Files.size(log)).isEqualTo(goodSize);
        assertThat(logs.list).anySatisfy(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.WARN);
            assertThat(e.getFormattedMessage()).contains(log.toString()).contains("offset " + goodSize)
                    .contains("did not close the store").contains("never acknowledged: nothing is lost")
                    .contains("No readable record remains");
        });
    }

    @Test
    void aLogCutInsideABatchSaysAcknowledgedDataMayBeLostAndNamesWhatRemainsOfIt() throws Exception {
        writeTransfers(3);
        store.close();
        Path log = newestLog();
        long goodSize = Files.size(log);
        // What a file cut short inside a batch leaves: its header and its first records, the rest gone.
        byte[] first = RecordCodec.encode(new LogRecord.DeleteBranches("tc:cut-1"));
        byte[] second = RecordCodec.encode(new LogRecord.DeleteBranches("tc:cut-2"));
        append(log, RecordCodec.encode(new LogRecord.Batch(3, first.length + second.length + 40)));
        append(log, first);
        append(log, second);

        ListAppender<ILoggingEvent> logs = captureLogs(Recovery.class);
        store = reopen(store);

        assertThat(Files.size(log)).isEqualTo(goodSize);
        assertThat(logs.list).anySatisfy(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.WARN);
            assertThat(e.getFormattedMessage()).contains(log.toString()).contains("offset " + goodSize)
                    .contains("transactions acknowledged after offset " + goodSize + " are lost")
                    .contains("compare with a backup").contains("2 transaction(s): tc:cut-1, tc:cut-2");
        });
    }

    @Test
    void lastRecordWithBadChecksumIsTreatedAsTornAndDropped() throws Exception {
        writeTransfers(2);
        long beforeLast = logBytes();
        store.deleteBranches("tc:1").join();
        store.close();
        Files.delete(CleanClose.file(dir.resolve("data"))); // a torn last write: the store was not closed
        Path log = newestLog();
        flipByte(log, Files.size(log) - 1);

        store = reopen(store);

        assertThat(store.findBranches("tc:1")).isNotEmpty();
        assertThat(Files.size(log)).isEqualTo(beforeLast);
    }

    @Test
    void damageInsideTheLastBatchIsATornWriteEvenWithValidRecordsAfterIt() throws Exception {
        writeTransfers(2);
        StoreView before = StoreView.of(store);
        store.close();
        Path log = newestLog();
        long goodSize = Files.size(log);
        // A power loss can persist the later pages of the last (never fsynced) write but not the earlier ones.
        byte[] first = RecordCodec.encode(new LogRecord.DeleteBranches("tc:0"));
        byte[] second = RecordCodec.encode(new LogRecord.DeleteBranches("tc:1"));
        byte[] header = RecordCodec.encode(new LogRecord.Batch(2, first.length + second.length));
        first[first.length - 1] ^= 0x5A;
        append(log, header);
        append(log, first);
        append(log, second);

        store = reopen(store);

        assertThat(StoreView.of(store)).usingRecursiveComparison().isEqualTo(before);
        assertThat(Files.size(log)).isEqualTo(goodSize);
    }

    /**
     * The writer fills space with zeros ahead of the log, so that an fsync flushes data only; a
     * crash leaves them after the last batch. Recovery takes them for unused space, not for a torn
     * write: no warning, nothing lost, the file cut back to the log, and new batches go after it.
     */
    @Test
    void theZerosWrittenAheadOfTheLogAreCutOffAfterACrashWithoutAWarning() throws Exception {
        writeTransfers(3);
        StoreView before = StoreView.of(store);
        long logEnd = logBytes();
        assertThat(Files.size(newestLog())).as("zeros written ahead of the log").isGreaterThan(logEnd);
        // What a crash leaves: the files as they are while the store runs (each acknowledged batch forced).
        Path image = dir.resolve("crash-image");
        Files.createDirectories(image);
        try (Stream<Path> files = Files.list(config().directory())) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals(LogFiles.LOCK_FILE)) {
                    Files.copy(f, image.resolve(f.getFileName()));
                }
            }
        }
        store.close();
        config = EmbeddedStoreConfig.defaults(image);

        ListAppender<ILoggingEvent> logs = captureLogs(Recovery.class);
        store = newStore();

        assertThat(StoreView.of(store)).usingRecursiveComparison().isEqualTo(before);
        assertThat(logs.list).noneSatisfy(e -> assertThat(e.getLevel()).isEqualTo(Level.WARN));
        assertThat(Files.size(newestLog())).as("cut back to the log").isEqualTo(logEnd);
        writeTransfersFrom(3, 2);
        StoreView after = StoreView.of(store);
        store = reopen(store);
        assertThat(StoreView.of(store)).usingRecursiveComparison().isEqualTo(after);
    }

    /**
     * Zeros are unused space only after the last batch of the newest log, the one being written: a
     * segment switch and a clean close cut them off first. In an older log they are damage, and a
     * torn batch before them is still a torn batch.
     */
    @Test
    void onlyTheNewestLogMayEndInZerosAndZerosDoNotHideATornBatch() throws Exception {
        writeTransfers(2);
        store.close();
        Path log = newestLog();
        long generation = listing().logs().lastKey();
        long logEnd = Files.size(log);
        append(log, new byte[5000]);

        LogFiles.ReadResult newest = LogFiles.readLog(log, generation, true, r -> { });
        assertThat(newest.torn()).isFalse();
        assertThat(newest.validBytes()).isEqualTo(logEnd);
        assertThat(newest.fileSize()).isEqualTo(logEnd + 5000);
        assertThatThrownBy(() -> LogFiles.readLog(log, generation, false, r -> { }))
                .isInstanceOf(EmbeddedStoreCorruptedException.class).hasMessageContaining("offset " + logEnd);

        try (FileChannel ch = FileChannel.open(log, StandardOpenOption.WRITE)) {
            ch.truncate(logEnd);
        }
        byte[] frame = RecordCodec.encode(new LogRecord.DeleteBranches("tc:torn"));
        append(log, java.util.Arrays.copyOf(frame, frame.length - 3));
        append(log, new byte[5000]);
        assertThat(LogFiles.readLog(log, generation, true, r -> { }).torn()).isTrue();

        Files.delete(CleanClose.file(config().directory())); // a crash closes nothing
        ListAppender<ILoggingEvent> logs = captureLogs(Recovery.class);
        store = newStore();
        assertThat(Files.size(log)).isEqualTo(logEnd);
        assertThat(logs.list).anySatisfy(e -> assertThat(e.getFormattedMessage()).contains("incomplete batch at offset " + logEnd));
    }

    /**
     * A clean close leaves the {@link CleanClose} marker with the log's length. A log shorter than
     * that afterwards was cut short (here exactly at a batch boundary, which reads as a whole log):
     * the store refuses to open and says acknowledged records are lost, until the marker is deleted.
     */
    @Test
    void aLogCutShortAfterACleanCloseRefusesToStartSayingAcknowledgedRecordsAreLost() throws Exception {
        writeTransfers(2);
        Path log = newestLog();
        long boundary = logBytes();
        store.deleteBranches("tc:1").join(); // acknowledged, and then cut off below
        store.close();
        Path marker = CleanClose.file(dir.resolve("data"));
        assertThat(Files.readString(marker)).contains("length " + Files.size(log));
        try (FileChannel ch = FileChannel.open(log, StandardOpenOption.WRITE)) {
            ch.truncate(boundary);
        }

        assertThatThrownBy(() -> new EmbeddedTransactionStore(config(), clock, registry))
                .isInstanceOfSatisfying(EmbeddedStoreCorruptedException.class, e -> {
                    assertThat(e.file()).isEqualTo(log);
                    assertThat(e.getMessage()).contains("cut short after the TC closed it cleanly")
                            .contains("acknowledged after that offset are lost").contains("delete " + marker);
                });
        assertThat(Files.size(log)).as("nothing is cut off").isEqualTo(boundary);
        store = null;

        Files.delete(marker); // the way out the message names: start with what remains
        store = newStore();
        assertThat(store.findBranches("tc:1")).as("the cut-off deletion is gone").isNotEmpty();
    }

    @Test
    void theMarkerIsRemovedOnOpenSoACrashAfterwardsIsNotTakenForACleanClose() throws Exception {
        writeTransfers(1);
        store.close();
        Path marker = CleanClose.file(dir.resolve("data"));
        assertThat(marker).exists();
        store = newStore();
        assertThat(marker).as("removed before anything is appended").doesNotExist();
        writeTransfersFrom(1, 1);
        store.close();
        assertThat(Files.readString(marker)).contains("length " + Files.size(newestLog()));
    }

    @Test
    void corruptionFollowedByValidRecordsRefusesToStartNamingFileAndOffset() throws Exception {
        writeTransfers(3);
        store.close();
        Path log = newestLog();
        long firstRecord = LogFiles.HEADER_BYTES;
        flipByte(log, firstRecord + 12);
        long size = Files.size(log);

        assertThatThrownBy(() -> new EmbeddedTransactionStore(config(), clock, registry))
                .isInstanceOfSatisfying(EmbeddedStoreCorruptedException.class, e -> {
                    assertThat(e.file()).isEqualTo(log);
                    assertThat(e.offset()).isEqualTo(firstRecord);
                    assertThat(e.getMessage()).contains(log.toString()).contains("offset " + firstRecord)
                            .contains("complete batch follows").contains("truncate -s " + firstRecord);
                });
        assertThat(Files.size(log)).as("nothing is cut off a damaged log").isEqualTo(size);
        store = null;
        // The failed open released the directory lock: opening again meets the damage, not the lock.
        assertThatThrownBy(() -> new EmbeddedTransactionStore(config(), clock, registry))
                .isInstanceOf(EmbeddedStoreCorruptedException.class);
    }

    // ---------------------------------------------------------------- history

    @Test
    void historyKeepsTheBeginAndTheLatestChangesAndASnapshotCarriesIt() throws Exception {
        config = config().withCompactionThresholdBytes(EmbeddedStoreConfig.MIN_COMPACTION_THRESHOLD_BYTES);
        store = reopen(store);
        store.insertGlobal(global("tc:retried", clock.millis())).join();
        store.transitionGlobal("tc:retried", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "rollback", ChangeCause.TM).join();
        GlobalStatus status = GlobalStatus.ROLLBACKING;
        for (int i = 0; i < 200; i++) { // a transaction retried for days, and enough writes for a snapshot
            clock.advance(Duration.ofMillis(1));
            GlobalStatus next = status == GlobalStatus.ROLLBACK_RETRYING ? GlobalStatus.ROLLBACK_FAILED
                    : GlobalStatus.ROLLBACK_RETRYING;
            assertThat(store.transitionGlobal("tc:retried", status, next, "attempt " + i).join()).isTrue();
            status = next;
        }
        List<StatusChange> history = store.history("tc:retried");
        assertThat(history).hasSize(MemoryState.MAX_HISTORY);
        assertThat(history.get(0).status()).isEqualTo("BEGIN");
        assertThat(history.get(history.size() - 1))
                .isEqualTo(new StatusChange(clock.millis(), StatusChange.GLOBAL, status.name(), ChangeCause.TC, "attempt 199"));
        awaitSnapshot();

        store = reopen(store);
        assertThat(store.history("tc:retried")).isEqualTo(history);
    }

    @Test
    void statusChangesLoggedBeforeCausesWereReadWithAnUnknownCause() {
        RecordCodec.Out out = new RecordCodec.Out(64);
        out.skip(RecordCodec.FRAME_HEADER_BYTES);
        out.u8(LogRecord.TRANSITION);
        out.u8(1); // the version before causes
        out.string("tc:old");
        out.u8(GlobalStatus.COMMITTED.code());
        out.string("done");
        out.varint(1234);
        byte[] frame = out.frame();

        LogRecord decoded = RecordCodec.decode(ByteBuffer.wrap(frame, RecordCodec.FRAME_HEADER_BYTES,
                frame.length - RecordCodec.FRAME_HEADER_BYTES).slice());

        assertThat(decoded).isEqualTo(new LogRecord.Transition("tc:old", GlobalStatus.COMMITTED, "done", 1234,
                ChangeCause.UNKNOWN));
        assertThat(RecordCodec.decode(ByteBuffer.wrap(RecordCodec.encode(decoded), RecordCodec.FRAME_HEADER_BYTES,
                RecordCodec.encode(decoded).length - RecordCodec.FRAME_HEADER_BYTES).slice())).isEqualTo(decoded);
    }

    // ---------------------------------------------------------------- compaction

    @Test
    void compactionThenReopenGivesTheSameState() throws Exception {
        store.close();
        config = config().withCompactionThresholdBytes(2048);
        store = newStore();
        writeTransfers(60);
        store.purgeEndedBefore(clock.millis() - 1).join();
        awaitCompactionSettled();
        StoreView before = StoreView.of(store);

        store = reopen(store);
        assertThat(StoreView.of(store)).usingRecursiveComparison().isEqualTo(before);
        store = reopen(store);
        assertThat(StoreView.of(store)).usingRecursiveComparison().isEqualTo(before);
        try (Stream<Path> files = Files.list(config().directory())) {
            assertThat(files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("snapshot-"))).hasSize(1);
        }
    }

    @Test
    void compactionDuringConcurrentWritesLosesNothing() throws Exception {
        store.close();
        config = config().withCompactionThresholdBytes(4096).withFsync(false); // fsync off: this test is about replay
        store = newStore();
        int threads = 4;
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            List<Future<?>> work = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                work.add(pool.submit(() -> randomLifecycles("w" + thread, 150)));
            }
            work.add(pool.submit(() -> {
                for (int i = 0; i < 20; i++) {
                    store.purgeEndedBefore(clock.millis() - 5).join();
                    Thread.sleep(5);
                }
                return null;
            }));
            for (Future<?> f : work) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        StoreView before = StoreView.of(store);
        assertThat(registry.find("cohort.store.batch.size").summary().count()).isPositive();

        store = reopen(store);

        assertThat(StoreView.of(store)).usingRecursiveComparison().isEqualTo(before);
    }

    // ---------------------------------------------------------------- concurrency, group commit

    @Test
    void concurrentRegistrationsOnOverlappingRowsNeverGrantARowTwice() throws Exception {
        store.close();
        config = config().withFsync(false); // fsync off: this test is about the lock table
        store = newStore();
        int threads = 8;
        Map<RowKey, String> owners = new ConcurrentHashMap<>();
        AtomicInteger granted = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> work = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                work.add(pool.submit(() -> {
                    start.await();
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    for (int n = 0; n < 300; n++) {
                        String xid = "t" + thread + ":" + n;
                        store.insertGlobal(global(xid, n)).join();
                        List<RowKey> mine = new ArrayList<>();
                        for (int b = 0; b < 3; b++) {
                            List<RowKey> rows = new ArrayList<>();
                            for (int r = 0; r < 1 + random.nextInt(3); r++) {
                                rows.add(new RowKey("db", "account", Integer.toString(random.nextInt(12))));
                            }
                            RegisterResult result = store.registerBranch(
                                    branch(xid, thread * 1_000_000L + n * 10L + b, "db"), rows).join();
                            if (result instanceof RegisterResult.Registered) {
                                granted.incrementAndGet();
                                for (RowKey row : rows) {
                                    String previous = owners.putIfAbsent(row, xid);
                                    assertThat(previous).as("owner of %s granted to %s", row, xid).isIn(null, xid);
                                    mine.add(row);
                                }
                            }
                        }
                        store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
                        mine.forEach(row -> owners.remove(row, xid)); // give up ownership before the store does
                        store.releaseLocks(xid).join();
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : work) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(granted.get()).isPositive();
        assertThat(store.listLocks(null, 0, 100).total()).isZero();
    }

    @Test
    void concurrentWritesShareAnFsync() throws Exception {
        store.close();
        config = config().withCompactionThresholdBytes(EmbeddedStoreConfig.DEFAULT_COMPACTION_THRESHOLD_BYTES);
        store = newStore();
        int threads = 16;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> work = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                work.add(pool.submit(() -> {
                    for (int n = 0; n < 20; n++) {
                        String xid = "g" + thread + ":" + n;
                        store.insertGlobal(global(xid, n)).join();
                        store.registerBranch(branch(xid, thread * 1000L + n, "db"), List.of()).join();
                        store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
                    }
                    return null;
                }));
            }
            for (Future<?> f : work) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        DistributionSummary batches = registry.find("cohort.store.batch.size").summary();
        assertThat(batches.max()).isGreaterThan(1);
        assertThat(batches.totalAmount() / batches.count()).as("records per fsync").isGreaterThan(1);
        assertThat(registry.find("cohort.store.fsync").timer().count()).isEqualTo(batches.count());
        assertThat(registry.find("cohort.store.log.bytes").gauge().value()).isGreaterThan(LogFiles.HEADER_BYTES);
    }

    // ---------------------------------------------------------------- directory lock, config

    @Test
    void aSecondStoreCannotOpenTheSameDirectory() {
        assertThatThrownBy(() -> new EmbeddedTransactionStore(config(), clock, new SimpleMeterRegistry()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(config().directory().toAbsolutePath().toString())
                .hasMessageContaining("in use by another TC");

        store.close();
        store = new EmbeddedTransactionStore(config(), clock, registry);
        store.checkHealth();
    }

    @Test
    void closedStoreRefusesWritesAndReportsUnhealthy() {
        store.close();
        assertThatThrownBy(() -> store.insertGlobal(global("tc:1", 1)).join())
                .hasCauseInstanceOf(io.cohort.tc.store.StoreUnavailableException.class);
        assertThatThrownBy(store::checkHealth).isInstanceOf(io.cohort.tc.store.StoreUnavailableException.class)
                .hasMessageContaining("closed");
    }

    @Test
    void invalidConfigurationNamesTheSettingAndValue() {
        Path d = dir.resolve("x");
        assertThatThrownBy(() -> new EmbeddedStoreConfig(d, 10, true, Duration.ZERO, 10))
                .hasMessageContaining("compaction-threshold-bytes is 10");
        assertThatThrownBy(() -> new EmbeddedStoreConfig(d, 1 << 20, true, Duration.ofMillis(-1), 10))
                .hasMessageContaining("max-batch-delay is PT-0.001S");
        assertThatThrownBy(() -> new EmbeddedStoreConfig(d, 1 << 20, true, Duration.ZERO, 0))
                .hasMessageContaining("max-batch-records is 0");
        assertThatThrownBy(() -> new EmbeddedStoreConfig(null, 1 << 20, true, Duration.ZERO, 1))
                .hasMessageContaining("directory");
    }

    // ---------------------------------------------------------------- helpers

    /** n committed-and-finished transfers, each leaving a different trace. */
    private void writeTransfers(int n) {
        writeTransfersFrom(0, n);
    }

    private void writeTransfersFrom(int first, int n) {
        for (int i = first; i < first + n; i++) {
            String xid = "tc:" + i;
            store.insertGlobal(global(xid, 1_000 + i)).join();
            store.registerBranch(branch(xid, 10L * i + 1, "db1", "account:" + i), rows("db1", "account:" + i)).join();
            store.registerBranch(branch(xid, 10L * i + 2, "db2", "ledger:" + i), rows("db2", "ledger:" + i)).join();
            clock.advance(Duration.ofMillis(1));
            store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "commit").join();
            store.updateBranch(xid, 10L * i + 1, BranchStatus.PHASE2_COMMITTED, "").join();
            if (i % 3 != 0) {
                store.updateBranch(xid, 10L * i + 2, BranchStatus.PHASE2_COMMITTED, "").join();
                store.transitionGlobal(xid, GlobalStatus.COMMITTING, GlobalStatus.COMMITTED, "").join();
                store.releaseLocks(xid).join();
            }
            if (i % 3 == 2) {
                store.deleteBranches(xid).join();
            }
        }
    }

    private Void randomLifecycles(String prefix, int count) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int n = 0; n < count; n++) {
            String xid = prefix + ":" + n;
            store.insertGlobal(global(xid, n)).join();
            store.registerBranch(branch(xid, n * 10L + 1, prefix, "t:" + n), rows(prefix, "t:" + n)).join();
            if (random.nextBoolean()) {
                store.registerBranch(branch(xid, n * 10L + 2, prefix + "b", "t:" + n), rows(prefix + "b", "t:" + n)).join();
            }
            switch (random.nextInt(4)) {
                case 0 -> { } // stays in BEGIN, holding its locks
                case 1 -> store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "").join();
                case 2 -> {
                    store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.ROLLBACKED, "").join();
                    store.markHeuristic(xid, "evidence " + n).join();
                    store.releaseLocks(xid).join();
                    store.deleteBranches(xid).join();
                }
                default -> {
                    store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
                    store.updateBranch(xid, n * 10L + 1, BranchStatus.PHASE2_COMMITTED, "ok").join();
                    store.releaseLocks(xid).join();
                }
            }
            clock.advance(Duration.ofMillis(1));
        }
        return null;
    }

    private void awaitCompactionSettled() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            LogFiles.Listing l = listing();
            if (l.snapshots().size() == 1 && l.logs().size() == 1
                    && l.snapshots().firstKey().equals(l.logs().firstKey())) {
                return;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("compaction did not settle: " + listing());
    }

    private LogFiles.Listing listing() {
        try {
            return LogFiles.list(config().directory(), false);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Where the open store's newest log ends (its file runs on, in zeros written ahead). */
    private long logBytes() {
        return (long) registry.get("cohort.store.log.bytes").gauge().value();
    }

    private Path newestLog() {
        return listing().logs().lastEntry().getValue();
    }

    private static void append(Path file, byte[] bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            ch.write(ByteBuffer.wrap(bytes));
        }
    }

    private static void flipByte(Path file, long offset) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, offset);
            b.flip();
            byte v = b.get(0);
            ch.write(ByteBuffer.wrap(new byte[] {(byte) (v ^ 0x5A)}), offset);
        }
    }

    private static ListAppender<ILoggingEvent> captureLogs(Class<?> type) {
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        ((Logger) LoggerFactory.getLogger(type)).addAppender(appender);
        return appender;
    }

}
