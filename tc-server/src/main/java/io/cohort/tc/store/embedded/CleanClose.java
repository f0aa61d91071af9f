package io.cohort.tc.store.embedded;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tail marker: the file {@code CLOSED}, written when the store closes cleanly, names the
 * newest log and the length it was closed at; recovery checks it and deletes it before the first
 * append. So at the next start a log that ends in an incomplete batch is told apart:
 * <ul>
 * <li>no marker: the previous run stopped without closing (a crash, a kill, a failed write), and
 *     the incomplete batch is the one it was writing, never acknowledged;</li>
 * <li>a marker, and the log is shorter than it says (or does not read back to it): the file was
 *     cut short after a clean close (a partial copy or restore), and acknowledged records are lost.</li>
 * </ul>
 * It lives beside the log rather than as its last frame because a file cut short loses its last
 * frame too, and because a TC of an earlier version reading the directory ignores it.
 */
final class CleanClose {

    private static final Logger LOG = LoggerFactory.getLogger(CleanClose.class);

    static final String FILE = "CLOSED";

    /** The newest log's generation and its length in bytes at the clean close. */
    record Marker(long generation, long length) {
    }

    private CleanClose() {
    }

    static Path file(Path dir) {
        return dir.resolve(FILE);
    }

    /** Writes the marker durably (temp file, forced, renamed, directory forced). */
    static void write(Path dir, long generation, long length, boolean fsync) throws IOException {
        Path tmp = dir.resolve(FILE + ".tmp");
        byte[] text = ("log-generation " + generation + " length " + length + "\n").getBytes(StandardCharsets.US_ASCII);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            LogFiles.writeFully(ch, ByteBuffer.wrap(text));
            if (fsync) {
                ch.force(true);
            }
        }
        Files.move(tmp, file(dir), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        if (fsync) {
            LogFiles.fsyncDirectory(dir);
        }
    }

    /** The marker, or empty when there is none (or it cannot be read: then it proves nothing). */
    static Optional<Marker> read(Path dir) throws IOException {
        String text;
        try {
            text = Files.readString(file(dir), StandardCharsets.US_ASCII).trim();
        } catch (NoSuchFileException none) {
            return Optional.empty();
        }
        String[] words = text.split("\\s+");
        try {
            if (words.length == 4 && words[0].equals("log-generation") && words[2].equals("length")) {
                return Optional.of(new Marker(Long.parseLong(words[1]), Long.parseLong(words[3])));
            }
        } catch (NumberFormatException e) {
            // falls through to the warning
        }
        LOG.warn("Ignoring {}: it does not read as a clean-close marker ('{}')", file(dir),
                text.length() > 100 ? text.substring(0, 100) + "..." : text);
        return Optional.empty();
    }

    /** Removes the marker before the log is appended to again. */
    static void clear(Path dir, boolean fsync) throws IOException {
        if (Files.deleteIfExists(file(dir)) && fsync) {
            LogFiles.fsyncDirectory(dir);
        }
    }
}
