package io.cohort.tc.store.embedded;

import io.cohort.tc.support.LogText;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rebuilds the state from a data directory: the newest snapshot, then every log from its
 * generation on, in order. Only the newest log may end in a torn write (the crash interrupted the
 * last batch, whose futures never completed); that tail is cut off with a WARN. Zeros after its last
 * batch (space its writer filled ahead, see {@link LogWriter}) are cut off without one. Anything else that
 * does not read back is {@link EmbeddedStoreCorruptedException}, and so is a newest log shorter than
 * the {@link CleanClose} marker says the store was closed with: that file was cut short.
 */
final class Recovery {

    private static final Logger LOG = LoggerFactory.getLogger(Recovery.class);
    /** The most transactions a torn-tail warning names. */
    private static final int NAMED_XIDS = 20;

    /** The newest log, open for appending, and its generation. */
    record Result(FileChannel channel, long generation) {
    }

    private Recovery() {
    }

    static Result run(Path dir, MemoryState state, boolean fsync) throws IOException {
        long started = System.nanoTime();
        LogFiles.Listing listing = LogFiles.list(dir, true);
        Optional<CleanClose.Marker> closed = CleanClose.read(dir);
        long start;
        if (!listing.snapshots().isEmpty()) {
            start = listing.snapshots().lastKey();
            readSnapshot(listing.snapshots().get(start), start, state);
        } else {
            start = listing.logs().isEmpty() ? 0 : listing.logs().firstKey();
        }
        deleteBefore(dir, start, fsync);
        SortedMap<Long, Path> logs = listing.logs().tailMap(start);
        long expected = start;
        for (long generation : logs.keySet()) {
            if (generation != expected) {
                Path missing = LogFiles.log(dir, expected);
                throw LogFiles.corrupt(missing, 0, "is missing: " + (expected == start && !listing.snapshots().isEmpty()
                        ? "it continues " + LogFiles.snapshot(dir, start).getFileName() : "the logs jump from "
                        + (expected - 1) + " to " + generation) + ". Restore the directory from a backup");
            }
            expected++;
        }
        if (closed.isPresent() && (logs.isEmpty() || closed.get().generation() > logs.lastKey())) {
            throw LogFiles.corrupt(LogFiles.log(dir, closed.get().generation()), 0, "is missing: the TC closed the store"
                    + " cleanly with it as its newest log (" + CleanClose.file(dir) + "). Restore the directory from a backup");
        }
        long records = 0;
        for (Map.Entry<Long, Path> log : logs.entrySet()) {
            boolean newest = log.getKey().equals(logs.lastKey());
            LogFiles.ReadResult read = LogFiles.readLog(log.getValue(), log.getKey(), newest, state::apply);
            records += read.records();
            Optional<CleanClose.Marker> closedWith = closed.filter(c -> newest && c.generation() == log.getKey());
            if (closedWith.isPresent()) {
                checkClosedLength(dir, log.getValue(), read, closedWith.get());
            }
            if (read.torn()) {
                warnTorn(log.getValue(), read, closed.isEmpty());
            }
            if (read.validBytes() < read.fileSize()) { // a torn batch, or the zeros its writer filled ahead
                try (FileChannel ch = FileChannel.open(log.getValue(), StandardOpenOption.WRITE)) {
                    ch.truncate(read.validBytes());
                    ch.force(true);
                }
            }
        }
        state.recount();
        CleanClose.clear(dir, fsync); // from here on the log may change: a crash must not look like a clean close
        Result result;
        if (logs.isEmpty()) {
            result = new Result(LogFiles.createLog(dir, start, fsync), start);
        } else {
            result = new Result(LogFiles.openForAppend(logs.get(logs.lastKey())), logs.lastKey());
        }
        LOG.info("Opened the store in {}: {} transactions after {} log records from {} log segment(s){} in {} ms", dir,
                state.size(), records, logs.size(), listing.snapshots().isEmpty() ? "" : " and snapshot-" + start,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        return result;
    }

    /**
     * Says what is known about a log that ends in an incomplete batch. A crash or a failed write
     * leaves exactly that, and then the batch was never acknowledged; but a file cut short (a
     * partial copy or restore, a truncation) looks the same from inside, since a torn write can leave
     * any prefix of its batch, and then acknowledged records are lost. With no {@link CleanClose}
     * marker ({@code notClosed}) the previous run did not close the store, so it is the crash's batch;
     * with a marker the log outgrew, the log alone cannot tell the two apart, so the warning names
     * both and the transactions the readable remains belong to.
     */
    private static void warnTorn(Path file, LogFiles.ReadResult read, boolean notClosed) throws IOException {
        List<String> xids = LogFiles.xidsAfter(file, read.validBytes(), NAMED_XIDS);
        if (notClosed) {
            LOG.warn("The log {} ends in an incomplete batch at offset {} ({}); truncating the {} bytes after it. The"
                    + " previous run did not close the store (a crash, a kill, a failed write: there is no {} marker), so"
                    + " this is the batch it was writing, never acknowledged: nothing is lost. Only if this directory was"
                    + " copied from a running TC could it be a file cut short instead. {}", file, read.validBytes(),
                    read.tornReason(), read.fileSize() - read.validBytes(), CleanClose.FILE, named(xids));
            return;
        }
        LOG.warn("The log {} ends in an incomplete batch at offset {} ({}); truncating the {} bytes after it. A crash or a"
                + " failed write leaves exactly this, and then that batch was never acknowledged and nothing is lost. But if"
                + " the file was cut short instead (a partial copy or restore, a truncation), transactions acknowledged after"
                + " offset {} are lost, and the log cannot tell the two apart: if the TC did not crash or fail a write just"
                + " before, compare with a backup. {}", file, read.validBytes(), read.tornReason(),
                read.fileSize() - read.validBytes(), read.validBytes(), named(xids));
    }

    private static String named(List<String> xids) {
        return xids.isEmpty() ? "No readable record remains after that offset."
                : "Readable records after that offset name " + (xids.size() == NAMED_XIDS ? "at least " : "")
                + xids.size() + " transaction(s): " + LogText.safe(String.join(", ", xids), 4000) + ".";
    }

    /**
     * The store was closed cleanly with this log at {@code closed.length()} bytes. Shorter now, or
     * not reading back whole at that length, it was cut short or damaged afterwards: records that
     * were acknowledged are gone, so the store does not open on what remains by itself.
     */
    private static void checkClosedLength(Path dir, Path file, LogFiles.ReadResult read, CleanClose.Marker closed)
            throws IOException {
        if (read.fileSize() > closed.length()) {
            LOG.warn("The log {} has {} bytes, more than the {} it was closed cleanly with ({}): something wrote to it"
                    + " since; ignoring the marker", file, read.fileSize(), closed.length(), CleanClose.file(dir));
            return;
        }
        if (read.fileSize() < closed.length() || read.torn()) {
            throw LogFiles.corrupt(file, read.validBytes(), "was cut short after the TC closed it cleanly: it had "
                    + closed.length() + " bytes then (" + CleanClose.file(dir) + "), it has " + read.fileSize() + " and reads"
                    + " whole to offset " + read.validBytes() + " now, so transactions acknowledged after that offset are"
                    + " lost. " + named(LogFiles.xidsAfter(file, read.validBytes(), NAMED_XIDS)) + " Restore the directory"
                    + " from a backup; or, to start with what remains, delete " + CleanClose.file(dir));
        }
    }

    private static void readSnapshot(Path file, long generation, MemoryState state) throws IOException {
        long[] globals = {0};
        LogRecord[] last = {null};
        LogFiles.ReadResult read = LogFiles.readSnapshot(file, generation, r -> {
            if (last[0] instanceof LogRecord.SnapshotEnd) {
                throw LogFiles.corrupt(file, 0, "has records after its end record");
            }
            if (r instanceof LogRecord.InsertGlobal) {
                globals[0]++;
            }
            state.apply(r);
            last[0] = r;
        });
        if (!(last[0] instanceof LogRecord.SnapshotEnd end) || end.globals() != globals[0]) {
            throw LogFiles.corrupt(file, read.validBytes(), "is incomplete (no end record, or it counts other than"
                    + " what was read). Restore the directory from a backup");
        }
    }

    /** Deletes snapshots and logs older than {@code generation}: they are covered by its snapshot. */
    static void deleteBefore(Path dir, long generation, boolean fsync) throws IOException {
        LogFiles.Listing listing = LogFiles.list(dir, false);
        boolean deleted = false;
        for (Path p : listing.snapshots().headMap(generation).values()) {
            Files.delete(p);
            deleted = true;
        }
        for (Path p : listing.logs().headMap(generation).values()) {
            Files.delete(p);
            deleted = true;
        }
        if (deleted && fsync) {
            LogFiles.fsyncDirectory(dir);
        }
    }
}
