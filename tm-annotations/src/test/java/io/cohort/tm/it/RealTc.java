package io.cohort.tm.it;

import io.cohort.testsupport.TestPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The real TC (tc-server's Boot jar) as a child process on free ports, with its PostgreSQL store in
 * a fresh database of the test PostgreSQL. The jar comes from {@code -Dtc.jar}, set by this module's failsafe configuration; the root
 * build packages tc-server before this module.
 */
final class RealTc implements AutoCloseable {

    private final Process process;
    private final int grpcPort;
    private final Path log;

    private RealTc(Process process, int grpcPort, Path log) {
        this.process = process;
        this.grpcPort = grpcPort;
        this.log = log;
    }

    static RealTc start() {
        Path jar = Path.of(System.getProperty("tc.jar", "../tc-server/target/tc-server.jar"));
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("No TC jar at " + jar.toAbsolutePath()
                    + ": build it first with mvn -pl tc-server package -DskipTests");
        }
        try {
            Path dir = Files.createTempDirectory("cohort-tm-it-tc");
            Path log = dir.resolve("tc.log");
            TestPostgres pg = TestPostgres.get();
            int grpcPort = freePort();
            int httpPort = freePort();
            Process process = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m", "-XX:TieredStopAtLevel=1", "-jar", jar.toString(),
                    "--cohort.tc.grpc-port=" + grpcPort, "--server.port=" + httpPort,
                    "--cohort.tc.advertised-address=127.0.0.1:" + grpcPort,
                    "--cohort.tc.store.type=postgres",
                    "--cohort.tc.store.postgres.url=" + pg.createDatabase("tm_it_tc"),
                    "--cohort.tc.store.postgres.username=" + pg.user(),
                    "--cohort.tc.store.postgres.password=" + pg.password(),
                    "--cohort.tc.store.postgres.max-pool-size=4",
                    "--cohort.tc.recovery.interval=200ms"))
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            RealTc tc = new RealTc(process, grpcPort, log);
            tc.awaitListening();
            return tc;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    String grpcAddress() {
        return "127.0.0.1:" + grpcPort;
    }

    private void awaitListening() {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (true) {
            try (Socket s = new Socket("127.0.0.1", grpcPort)) {
                return;
            } catch (IOException notYet) {
                if (!process.isAlive()) {
                    throw new IllegalStateException("TC exited with " + process.exitValue() + "; see " + log);
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("TC did not listen on " + grpcPort + " within 90 s; see " + log);
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** SIGKILL, as a crash or a cut would leave it. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            process.waitFor();
        }
    }
}
