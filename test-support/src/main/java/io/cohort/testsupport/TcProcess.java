package io.cohort.testsupport;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * The real TC — tc-server's Boot jar, started as {@link TcLaunch} says — as a child process on
 * fixed free ports, so tests can kill it with SIGKILL and start it again on the same data. The jar
 * comes from the system property {@code tc.jar} (set by each module's failsafe configuration), else
 * {@code ../tc-server/target/tc-server.jar}; the root build packages tc-server before the modules
 * that use it.
 */
public final class TcProcess implements AutoCloseable {

    private final TcLaunch launch;
    private final List<String> args;
    /** JVM options in place of the default heap (see {@link #jvmOptions}); null for the default. */
    private List<String> jvmOptions;
    private final int grpcPort;
    private final int httpPort;
    private final Path log;
    private Process process;

    private TcProcess(List<String> extraArgs, Path workDir) {
        Path jar = Path.of(System.getProperty("tc.jar", "../tc-server/target/tc-server.jar"));
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("No TC jar at " + jar.toAbsolutePath()
                    + ": build it first with ./mvnw -pl tc-server -am package -DskipTests");
        }
        this.grpcPort = freePort();
        this.httpPort = freePort();
        this.log = workDir.resolve("tc.log");
        // Settings by name, so a test's own value replaces the default instead of being joined to it.
        Map<String, String> settings = new LinkedHashMap<>();
        for (String arg : List.of("--cohort.tc.grpc-port=" + grpcPort, "--server.port=" + httpPort,
                "--cohort.tc.advertised-address=127.0.0.1:" + grpcPort, "--cohort.tc.recovery.interval=200ms",
                "--cohort.tc.recovery.initial-backoff=100ms", "--cohort.tc.recovery.max-backoff=1s")) {
            settings.put(arg.substring(0, arg.indexOf('=')), arg);
        }
        for (String arg : extraArgs) {
            settings.put(arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg, arg);
        }
        this.launch = TcLaunch.of(jar);
        this.args = List.copyOf(settings.values());
    }

    /** A TC on the embedded store in {@code dataDir}; {@code args} are extra {@code --name=value} settings. */
    public static TcProcess embedded(Path dataDir, String... args) {
        List<String> all = new ArrayList<>(List.of("--cohort.tc.store.embedded.dir=" + dataDir));
        all.addAll(List.of(args));
        return new TcProcess(all, parentOf(dataDir));
    }

    /** A TC on the PostgreSQL store in a fresh database of the test PostgreSQL. */
    public static TcProcess postgres(String... args) {
        return postgresOn(TestPostgres.get().createDatabase("tc"), args);
    }

    /**
     * A TC on the PostgreSQL store in {@code jdbcUrl}, a database of the test PostgreSQL: several of
     * them on one URL are replicas. Each gets its own replica id, kept across {@link #kill} and
     * {@link #start}, so a restarted TC owns its transactions again at once (override with
     * {@code --cohort.tc.store.postgres.replica-id=...}).
     */
    public static TcProcess postgresOn(String jdbcUrl, String... args) {
        TestPostgres pg = TestPostgres.get();
        List<String> all = new ArrayList<>(List.of("--cohort.tc.store.type=postgres",
                "--cohort.tc.store.postgres.url=" + jdbcUrl,
                "--cohort.tc.store.postgres.replica-id=tc-process-" + UUID.randomUUID(),
                "--cohort.tc.store.postgres.username=" + pg.user(),
                "--cohort.tc.store.postgres.password=" + pg.password(),
                "--cohort.tc.store.postgres.max-pool-size=4"));
        all.addAll(List.of(args));
        try {
            return new TcProcess(all, Files.createTempDirectory("cohort-tc"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static Path parentOf(Path dataDir) {
        try {
            Path parent = dataDir.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            return parent;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Runs the TC with these JVM options in place of the default heap setting (give an {@code -Xmx},
     * e.g. {@code -Xmx96m}); before {@link #start}.
     */
    public TcProcess jvmOptions(String... options) {
        if (process != null) {
            throw new IllegalStateException("jvmOptions must be set before start");
        }
        jvmOptions = List.of(options);
        return this;
    }

    /**
     * Starts the process (again, after {@link #kill}) and waits until gRPC listens, 5 minutes at most:
     * a start takes 10–40 s at a load average of 30 on the 2-core machine, up to 170 s at 55; the
     * deadline only catches a TC that hangs, a crash is seen at once.
     */
    public TcProcess start() {
        return start(Duration.ofMinutes(5));
    }

    /**
     * Starts the process and waits until gRPC listens; a TC not listening within {@code maxWait} is
     * killed, not left to come up later and load the machine for the rest of the build.
     */
    public TcProcess start(Duration maxWait) {
        try {
            process = new ProcessBuilder(launch.command(jvmOptions, args)).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        long deadline = System.nanoTime() + maxWait.toNanos();
        while (!listening()) {
            if (!process.isAlive()) {
                throw new IllegalStateException("TC process exited with " + process.exitValue() + "; see " + log);
            }
            if (System.nanoTime() > deadline) {
                kill();
                throw new IllegalStateException("TC did not listen on " + grpcPort + " within " + maxWait.toMillis()
                        + " ms (killed); see " + log);
            }
            sleep(50);
        }
        return this;
    }

    public String grpcAddress() {
        return "127.0.0.1:" + grpcPort;
    }

    public int grpcPort() {
        return grpcPort;
    }

    public int httpPort() {
        return httpPort;
    }

    public Path log() {
        return log;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process != null && process.isAlive();
    }

    /** SIGKILL: no shutdown hook runs, nothing is flushed — a crash. */
    public void kill() {
        process.destroyForcibly();
        waitForExit();
        launch.exited(false);
    }

    @Override
    public void close() {
        if (isAlive()) {
            process.destroy();
            waitForExit();
            launch.exited(true);
        } else {
            launch.exited(false);
        }
    }

    private void waitForExit() {
        try {
            process.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private boolean listening() {
        try (Socket s = new Socket("127.0.0.1", grpcPort)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** A port that was free a moment ago. */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
