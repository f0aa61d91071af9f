package io.cohort.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * How a test starts the TC's JVM quickly. Starting tc-server.jar as it ships (nested jars, C2,
 * G1) took 105–180 s on the 2-core machine at a load average of about 30, and the fault tests
 * start TCs dozens of times. So the test TC runs:
 * <ul>
 *   <li>from the jar extracted once with Spring Boot's {@code -Djarmode=tools extract} (a plain
 *       class path: no nested-jar class loading), next to the jar in a directory named after the
 *       jar's size and time, so a rebuilt jar is extracted again;</li>
 *   <li>with a class-data-sharing archive of the TC's classes: the first TC started from an
 *       extraction writes it when it exits normally ({@code -XX:ArchiveClassesAtExit}, to a file of
 *       its own, moved into place after), every later one maps it ({@code -XX:SharedArchiveFile});
 *       a JVM that cannot use the archive starts without it;</li>
 *   <li>with C1 only and the serial collector: a test TC lives seconds to minutes, never long
 *       enough for C2 to pay off, on a heap of 256 MB.</li>
 * </ul>
 * Seconds to gRPC listening on that machine at a load average of about 30: 105–180 as shipped,
 * 52–71 with C1 and the serial collector alone, 25–36 extracted too, 12–20 with the archive too
 * (at 55, started side by side: 298 as shipped, 171 this way). The jar as a user runs it
 * ({@code java -jar}) is still what the consumer check ({@code examples/consumer-it}) starts.
 */
final class TcLaunch {

    private static final List<String> JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC");
    private static final List<String> DEFAULT_HEAP = List.of("-Xmx256m");
    private static final Object LOCK = new Object();
    /** Whether a TC of this JVM is writing the archive now: one writer at a time. */
    private static boolean archiving;

    private final Path jar;
    private final Path archive;
    /** The file this launch's JVM writes its archive to at exit, or null when it does not. */
    private Path archiveOut;

    private TcLaunch(Path jar, Path archive) {
        this.jar = jar;
        this.archive = archive;
    }

    /** The extraction of {@code bootJar}, made now if this jar was not extracted before. */
    static TcLaunch of(Path bootJar) {
        synchronized (LOCK) {
            try {
                Path dir = bootJar.toAbsolutePath().getParent().resolve("tc-launch-" + Files.size(bootJar) + "-"
                        + Files.getLastModifiedTime(bootJar).toMillis());
                Path jar = dir.resolve(bootJar.getFileName());
                if (!Files.isRegularFile(jar)) {
                    deleteOlderExtractions(dir);
                    extract(bootJar, dir);
                }
                return new TcLaunch(jar, dir.resolve("tc.jsa"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static void extract(Path bootJar, Path dir) throws IOException {
        // Into a directory of its own first: a half-made extraction never looks finished.
        Path tmp = Files.createTempDirectory(dir.getParent(), dir.getFileName() + ".");
        Path log = tmp.resolve("extract.log");
        Path out = tmp.resolve("out");
        Process p = new ProcessBuilder(java(), "-Djarmode=tools", "-jar", bootJar.toString(), "extract",
                "--destination", out.toString()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IllegalStateException("Could not extract " + bootJar + " for the test TC; see " + log);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        try {
            Files.move(out, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            if (!Files.isRegularFile(dir.resolve(bootJar.getFileName()))) {
                throw e;
            } // else another JVM extracted the same jar first: use theirs
        }
        Files.delete(log);
        Files.delete(tmp);
    }

    /** Those of jars built before this one: 120 MB each, in a target/ that is seldom cleaned. */
    private static void deleteOlderExtractions(Path dir) throws IOException {
        try (Stream<Path> siblings = Files.list(dir.getParent())) {
            for (Path old : siblings.filter(p -> p.getFileName().toString().startsWith("tc-launch-")).toList()) {
                try (Stream<Path> tree = Files.walk(old)) {
                    for (Path p : tree.sorted(Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(p);
                    }
                }
            }
        }
    }

    /**
     * The command line for one start: the TC's {@code args} after the JVM's settings, with
     * {@code heapOptions} (null: {@code -Xmx256m}).
     */
    List<String> command(List<String> heapOptions, List<String> args) {
        List<String> command = new ArrayList<>(List.of(java()));
        command.addAll(JVM);
        command.addAll(heapOptions == null ? DEFAULT_HEAP : heapOptions);
        synchronized (LOCK) {
            if (Files.isRegularFile(archive)) {
                command.add("-XX:SharedArchiveFile=" + archive);
            } else if (!archiving) {
                archiving = true;
                archiveOut = archive.resolveSibling("tc-" + ProcessHandle.current().pid() + "-" + System.nanoTime() + ".jsa");
                command.add("-XX:ArchiveClassesAtExit=" + archiveOut);
            }
        }
        command.add("-jar");
        command.add(jar.toString());
        command.addAll(args);
        return command;
    }

    /**
     * After the JVM of the last {@link #command} exited; {@code normally} when it was asked to stop
     * (SIGTERM) and stopped. Only then can it have written its archive whole, which is moved into place.
     */
    void exited(boolean normally) {
        synchronized (LOCK) {
            if (archiveOut == null) {
                return;
            }
            archiving = false;
            try {
                if (normally && Files.size(archiveOut) > 0 && !Files.exists(archive)) {
                    Files.move(archiveOut, archive, StandardCopyOption.ATOMIC_MOVE);
                }
            } catch (IOException notWritten) {
                // none written: a later start writes one
            } finally {
                try {
                    Files.deleteIfExists(archiveOut);
                } catch (IOException ignored) {
                    // a stray file in target/
                }
                archiveOut = null;
            }
        }
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
