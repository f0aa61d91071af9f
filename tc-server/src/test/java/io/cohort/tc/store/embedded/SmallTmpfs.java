package io.cohort.tc.store.embedded;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Assumptions;

/**
 * A real full disk for tests: an 8 MB tmpfs mounted on a directory (needs root; a test that cannot
 * mount is skipped with the reason) and filled to its last byte by a file.
 */
public final class SmallTmpfs implements AutoCloseable {

    private final Path mountPoint;

    private SmallTmpfs(Path mountPoint) {
        this.mountPoint = mountPoint;
    }

    /** Mounts on {@code mountPoint} (created if missing), or skips the calling test with the reason. */
    public static SmallTmpfs mountOrSkip(Path mountPoint) throws IOException, InterruptedException {
        Files.createDirectories(mountPoint);
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mountPoint.toString())
                .redirectErrorStream(true).start();
        String out = new String(mount.getInputStream().readAllBytes());
        boolean mounted = mount.waitFor() == 0;
        Assumptions.assumeTrue(mounted, () -> "Skipped: a full disk is simulated with a mounted 8 MB tmpfs, and"
                + " 'mount -t tmpfs' was refused here (it needs root): " + out.strip());
        return new SmallTmpfs(mountPoint);
    }

    /** Fills the file system up to its last byte; returns the filling file (delete it to free the space). */
    public Path fill() throws IOException {
        Path filler = mountPoint.resolve("filler");
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

    @Override
    public void close() throws IOException, InterruptedException {
        new ProcessBuilder("umount", "-l", mountPoint.toString()).inheritIO().start().waitFor();
    }
}
