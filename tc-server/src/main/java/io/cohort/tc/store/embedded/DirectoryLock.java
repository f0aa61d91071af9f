package io.cohort.tc.store.embedded;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a second TC (or a second store in the same JVM) out of a data directory: an OS file lock
 * on {@code LOCK}, which the OS drops when the process dies, so a crash never leaves it stale.
 * The file holds the owner's pid for the error message.
 */
final class DirectoryLock {

    private static final Logger LOG = LoggerFactory.getLogger(DirectoryLock.class);

    private final FileChannel channel;
    private final FileLock lock;
    private boolean released;

    private DirectoryLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    static DirectoryLock acquire(Path directory) {
        Path file = directory.resolve(LogFiles.LOCK_FILE);
        FileChannel channel = null;
        try {
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (OverlappingFileLockException sameJvm) {
                lock = null;
            }
            if (lock == null) {
                String holder = readHolder(channel);
                channel.close();
                throw new IllegalStateException("The Cohort TC store directory " + directory + " is in use by another"
                        + " TC" + (holder.isEmpty() ? "" : " (pid " + holder + ")") + ": " + file + " is locked. Stop"
                        + " that TC, or give this one its own directory (cohort.store.embedded.directory)");
            }
            channel.truncate(0);
            channel.write(ByteBuffer.wrap(Long.toString(ProcessHandle.current().pid()).getBytes(StandardCharsets.US_ASCII)), 0);
            return new DirectoryLock(channel, lock);
        } catch (IOException e) {
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // the open failure is what matters
                }
            }
            throw new UncheckedIOException("Cannot lock the store directory " + directory + " (" + file + ")", e);
        }
    }

    private static String readHolder(FileChannel channel) {
        try {
            ByteBuffer buf = ByteBuffer.allocate(32);
            channel.read(buf, 0);
            return new String(buf.array(), 0, buf.position(), StandardCharsets.US_ASCII).trim();
        } catch (IOException e) {
            return "";
        }
    }

    synchronized void release() {
        if (released) {
            return;
        }
        released = true;
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            LOG.warn("Releasing the directory lock {} failed: {}", channel, e.toString());
        }
    }
}
