package io.cohort.tc.store.embedded;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The files of a data directory and how they are read and written.
 *
 * <pre>
 * log-&lt;generation&gt;.wal       header, then batches: a BATCH frame and the frames it counts (see {@link RecordCodec})
 * snapshot-&lt;generation&gt;.snap header, then the state as frames, ending with a SNAPSHOT_END frame
 * LOCK                          held with FileChannel.tryLock while a store has the directory open
 * header = magic:int32  formatVersion:u8  generation:int64
 * </pre>
 *
 * A snapshot of generation {@code g} is the state at the start of {@code log-g}; recovery loads the
 * newest snapshot and replays every log from its generation on. New files are written under a
 * {@code .tmp} name, forced, then renamed, so a crash never leaves a half-written header or snapshot.
 */
final class LogFiles {

    private static final Logger LOG = LoggerFactory.getLogger(LogFiles.class);

    static final String LOCK_FILE = "LOCK";
    static final int LOG_MAGIC = 0x43484C47;      // "CHLG"
    static final int SNAPSHOT_MAGIC = 0x4348534E; // "CHSN"
    static final int HEADER_BYTES = 13;
    private static final Pattern NAME = Pattern.compile("(log|snapshot)-(\\d{20})\\.(wal|snap)");

    private LogFiles() {
    }

    static Path log(Path dir, long generation) {
        return dir.resolve(String.format("log-%020d.wal", generation));
    }

    static Path snapshot(Path dir, long generation) {
        return dir.resolve(String.format("snapshot-%020d.snap", generation));
    }

    /** The generations present, oldest first; stray {@code .tmp} files from a crash are deleted. */
    record Listing(TreeMap<Long, Path> logs, TreeMap<Long, Path> snapshots) {
    }

    static Listing list(Path dir, boolean deleteTemps) throws IOException {
        TreeMap<Long, Path> logs = new TreeMap<>();
        TreeMap<Long, Path> snapshots = new TreeMap<>();
        List<Path> temps = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String name = f.getFileName().toString();
                Matcher m = NAME.matcher(name);
                if (m.matches()) {
                    (m.group(1).equals("log") ? logs : snapshots).put(Long.parseLong(m.group(2)), f);
                } else if (deleteTemps && name.endsWith(".tmp")) {
                    temps.add(f);
                }
            }
        }
        for (Path t : temps) {
            LOG.info("Deleting {} left by an interrupted segment switch or compaction", t);
            Files.delete(t);
        }
        return new Listing(logs, snapshots);
    }

    static ByteBuffer header(int magic, long generation) {
        return ByteBuffer.allocate(HEADER_BYTES).putInt(magic).put(RecordCodec.FORMAT_VERSION).putLong(generation).flip();
    }

    /** Creates {@code log-generation} with its header, durably, and opens it for appending. */
    static FileChannel createLog(Path dir, long generation, boolean fsync) throws IOException {
        Path target = log(dir, generation);
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            writeFully(ch, header(LOG_MAGIC, generation));
            if (fsync) {
                ch.force(true);
            }
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        if (fsync) {
            fsyncDirectory(dir);
        }
        return openForAppend(target);
    }

    static FileChannel openForAppend(Path file) throws IOException {
        FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE);
        ch.position(ch.size());
        return ch;
    }

    static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    /** Makes renames and deletions in {@code dir} durable (Linux: fsync on the directory). */
    static void fsyncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
    }

    /**
     * Writes a snapshot of {@code state} as {@code snapshot-generation.snap.tmp}, forced to disk;
     * {@link #installSnapshot} makes it the current one.
     */
    static Path writeSnapshotTemp(Path dir, long generation, MemoryState state, boolean fsync) throws IOException {
        Path tmp = dir.resolve(snapshot(dir, generation).getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.allocate(256 * 1024);
            buf.put(header(SNAPSHOT_MAGIC, generation));
            Consumer<LogRecord> sink = r -> put(ch, buf, RecordCodec.encode(r));
            try {
                LogRecord.SnapshotEnd end = state.writeTo(sink);
                sink.accept(end);
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
            buf.flip();
            writeFully(ch, buf);
            if (fsync) {
                ch.force(true);
            }
        }
        return tmp;
    }

    private static void put(FileChannel ch, ByteBuffer buf, byte[] frame) {
        try {
            if (buf.remaining() < frame.length) {
                buf.flip();
                writeFully(ch, buf);
                buf.clear();
            }
            if (frame.length > buf.capacity()) {
                writeFully(ch, ByteBuffer.wrap(frame));
            } else {
                buf.put(frame);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void installSnapshot(Path tmp, Path dir, long generation, boolean fsync) throws IOException {
        Files.move(tmp, snapshot(dir, generation), StandardCopyOption.ATOMIC_MOVE);
        if (fsync) {
            fsyncDirectory(dir);
        }
    }

    // ------------------------------------------------------------------ reading

    /** How a file ended: {@code validBytes} is where the last good record ends. */
    record ReadResult(long validBytes, long fileSize, long records, String tornReason) {
        boolean torn() {
            return tornReason != null;
        }
    }

    /**
     * Reads a log into {@code sink}, one whole batch at a time. Damage with a complete batch after
     * it is {@link EmbeddedStoreCorruptedException}: a batch is only written once the one before it
     * was fsynced, so that damage hit acknowledged data. Damage with no batch after it is the last,
     * never-acknowledged batch cut short (allowed only in the newest log, {@code newest}); the
     * result says where the good part ends so the caller can truncate there. Nothing but zeros after
     * the last batch of the newest log is the space its writer filled ahead (see {@link LogWriter}),
     * not damage: the result is not torn, and still says where the log ends.
     */
    static ReadResult readLog(Path file, long generation, boolean newest, Consumer<LogRecord> sink) throws IOException {
        ByteBuffer buf = readWithHeader(file, LOG_MAGIC, generation);
        int size = buf.limit();
        int pos = HEADER_BYTES;
        long records = 0;
        String bad = null;
        List<LogRecord> batch = new ArrayList<>();
        while (pos < size) {
            bad = checkFrame(buf, pos);
            if (bad != null) {
                break;
            }
            LogRecord head = decodeAt(file, buf, pos);
            if (!(head instanceof LogRecord.Batch header)) {
                bad = "expected a batch header, found a record of type " + head.type();
                break;
            }
            int at = pos + frameLength(buf, pos);
            long end = (long) at + header.bytes();
            if (end > size) {
                bad = "batch of " + header.bytes() + " bytes cut off after " + (size - at);
                break;
            }
            batch.clear();
            while (at < end && bad == null) {
                bad = checkFrame(buf, at);
                if (bad == null && at + frameLength(buf, at) > end) {
                    bad = "a record crosses the end of its batch";
                }
                if (bad == null) {
                    batch.add(decodeAt(file, buf, at));
                    at += frameLength(buf, at);
                }
            }
            if (bad == null && batch.size() != header.records()) {
                bad = "batch holds " + batch.size() + " records, its header says " + header.records();
            }
            if (bad != null) {
                bad = "in the batch starting there, at offset " + at + ": " + bad;
                break;
            }
            batch.forEach(sink);
            records += batch.size();
            pos = (int) end;
        }
        if (bad == null || (newest && zerosFrom(buf, pos))) {
            return new ReadResult(pos, size, records, null);
        }
        int next = findFrame(buf, pos + 1, LogRecord.BATCH);
        if (next >= 0) {
            throw corrupt(file, pos, "is damaged at offset " + pos + " (" + bad + ") but a complete batch follows at"
                    + " offset " + next + ". Batches are written only after the previous one was fsynced, so this is"
                    + " not a torn last write: records after offset " + pos + " were acknowledged and would be lost."
                    + " Restore the directory from a backup; or, to accept losing everything after offset " + pos
                    + ", truncate the file to " + pos + " bytes (truncate -s " + pos + " '" + file + "') and start again");
        }
        if (!newest) {
            throw corrupt(file, pos, "is damaged at offset " + pos + " (" + bad + "); only the newest log may end in a"
                    + " torn write. Restore the directory from a backup");
        }
        return new ReadResult(pos, size, records, bad);
    }

    private static boolean zerosFrom(ByteBuffer buf, int pos) {
        int at = pos;
        for (; at + Long.BYTES <= buf.limit(); at += Long.BYTES) {
            if (buf.getLong(at) != 0) {
                return false;
            }
        }
        for (; at < buf.limit(); at++) {
            if (buf.get(at) != 0) {
                return false;
            }
        }
        return true;
    }

    private static int frameLength(ByteBuffer buf, int pos) {
        return RecordCodec.FRAME_HEADER_BYTES + buf.getInt(pos);
    }

    private static LogRecord decodeAt(Path file, ByteBuffer buf, int pos) {
        try {
            byte[] body = new byte[buf.getInt(pos)];
            buf.get(pos + RecordCodec.FRAME_HEADER_BYTES, body);
            return RecordCodec.decode(ByteBuffer.wrap(body));
        } catch (RuntimeException e) {
            throw corrupt(file, pos, "holds a record at offset " + pos + " with a valid checksum that cannot be read ("
                    + e.getMessage() + "). Start the store with the Cohort version that wrote it");
        }
    }

    /**
     * The file mapped, not read onto the heap: a log segment may be as large as the compaction
     * threshold (64 MiB by default), and recovery must fit in the heap the TC ran in.
     */
    private static ByteBuffer readWithHeader(Path file, int magic, long generation) throws IOException {
        long size = Files.size(file);
        if (size > Integer.MAX_VALUE - 64) {
            throw corrupt(file, 0, "is " + size + " bytes, more than this version can read in one piece");
        }
        ByteBuffer buf;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
        }
        if (size < HEADER_BYTES || buf.getInt(0) != magic || buf.get(4) != RecordCodec.FORMAT_VERSION
                || buf.getLong(5) != generation) {
            throw corrupt(file, 0, "does not start with a Cohort " + (magic == LOG_MAGIC ? "log" : "snapshot")
                    + " header of format version " + RecordCodec.FORMAT_VERSION + " and generation " + generation);
        }
        return buf;
    }

    /**
     * Reads every record of a snapshot into {@code sink}. Snapshots are complete before they are
     * renamed into place, so any damage is {@link EmbeddedStoreCorruptedException}.
     */
    static ReadResult readSnapshot(Path file, long generation, Consumer<LogRecord> sink) throws IOException {
        ByteBuffer buf = readWithHeader(file, SNAPSHOT_MAGIC, generation);
        int pos = HEADER_BYTES;
        long records = 0;
        while (pos < buf.limit()) {
            String bad = checkFrame(buf, pos);
            if (bad != null) {
                throw corrupt(file, pos, "is damaged at offset " + pos + " (" + bad + "). Restore the directory from a"
                        + " backup");
            }
            sink.accept(decodeAt(file, buf, pos));
            records++;
            pos += frameLength(buf, pos);
        }
        return new ReadResult(pos, buf.limit(), records, null);
    }

    /** Null if a complete frame with a matching checksum starts at {@code pos}, else why not. */
    private static String checkFrame(ByteBuffer buf, int pos) {
        int remaining = buf.limit() - pos;
        if (remaining < RecordCodec.FRAME_HEADER_BYTES) {
            return "incomplete frame header: " + remaining + " bytes";
        }
        int length = buf.getInt(pos);
        if (length < 2 || length > RecordCodec.MAX_BODY_BYTES) {
            return "impossible record length " + length;
        }
        if (length > remaining - RecordCodec.FRAME_HEADER_BYTES) {
            return "record of " + length + " bytes cut off after " + (remaining - RecordCodec.FRAME_HEADER_BYTES);
        }
        int expected = buf.getInt(pos + 4);
        int actual = RecordCodec.crc(buf.slice(pos + RecordCodec.FRAME_HEADER_BYTES, length));
        if (expected != actual) {
            return "checksum mismatch";
        }
        return null;
    }

    /**
     * The global transactions named by the checksum-valid records from {@code from} to the end of
     * {@code file} (a torn or cut tail), in order, at most {@code max}: what a cut may have lost.
     */
    static List<String> xidsAfter(Path file, long from, int max) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(file));
        LinkedHashSet<String> xids = new LinkedHashSet<>();
        for (int q = (int) from; q + RecordCodec.FRAME_HEADER_BYTES + 2 <= buf.limit() && xids.size() < max; q++) {
            if (!RecordCodec.isKnown(buf.get(q + RecordCodec.FRAME_HEADER_BYTES), buf.get(q + RecordCodec.FRAME_HEADER_BYTES + 1)) || checkFrame(buf, q) != null) {
                continue;
            }
            try {
                LogRecord r = RecordCodec.decode(ByteBuffer.wrap(buf.array(), q + RecordCodec.FRAME_HEADER_BYTES,
                        buf.getInt(q)).slice());
                if (r instanceof LogRecord.InsertGlobal g) {
                    xids.add(g.tx().xid());
                } else if (r instanceof LogRecord.RegisterBranch b) {
                    xids.add(b.branch().xid());
                } else if (r instanceof LogRecord.Transition t) {
                    xids.add(t.xid());
                } else if (r instanceof LogRecord.Heuristic h) {
                    xids.add(h.xid());
                } else if (r instanceof LogRecord.UpdateBranch u) {
                    xids.add(u.xid());
                } else if (r instanceof LogRecord.ReleaseLocks l) {
                    xids.add(l.xid());
                } else if (r instanceof LogRecord.DeleteBranches d) {
                    xids.add(d.xid());
                } else if (r instanceof LogRecord.Purge p) {
                    xids.addAll(p.xids());
                }
                q += frameLength(buf, q) - 1;
            } catch (RuntimeException unreadable) {
                // not a record after all: keep scanning
            }
        }
        return new ArrayList<>(xids).subList(0, Math.min(max, xids.size()));
    }

    /** The offset of the first checksum-valid frame of {@code type} at or after {@code from}, or -1. */
    private static int findFrame(ByteBuffer buf, int from, byte type) {
        for (int q = from; q + RecordCodec.FRAME_HEADER_BYTES + 2 <= buf.limit(); q++) {
            if (buf.get(q + RecordCodec.FRAME_HEADER_BYTES) == type
                    && buf.get(q + RecordCodec.FRAME_HEADER_BYTES + 1) == RecordCodec.FORMAT_VERSION
                    && checkFrame(buf, q) == null) {
                return q;
            }
        }
        return -1;
    }

    static EmbeddedStoreCorruptedException corrupt(Path file, long offset, String what) {
        return new EmbeddedStoreCorruptedException(file, offset, "Cannot open the Cohort TC store: " + file + " " + what
                + ".");
    }
}
