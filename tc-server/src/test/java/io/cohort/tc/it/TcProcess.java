package io.cohort.tc.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** The real TC jar as a child process, killed with SIGKILL when a test says so. */
final class TcProcess {

    private final List<String> command;
    private final Path log;
    private final int grpcPort;
    private Process process;

    TcProcess(Path dataDir, int grpcPort, int httpPort, Path log, String... extraArgs) {
        String jar = System.getProperty("tc.jar", "target/tc-server.jar");
        this.grpcPort = grpcPort;
        this.log = log;
        command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-jar", jar,
                "--cohort.tc.grpc-port=" + grpcPort, "--server.port=" + httpPort,
                "--cohort.tc.advertised-address=127.0.0.1:" + grpcPort,
                "--cohort.tc.store.embedded.dir=" + dataDir));
        command.addAll(List.of(extraArgs));
    }

    void start() {
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!listening()) {
            if (!process.isAlive()) {
                throw new IllegalStateException("TC process exited with " + process.exitValue() + "; see " + log);
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("TC process did not listen on " + grpcPort + " within 60 s; see " + log);
            }
            TestRm.sleep(50);
        }
    }

    private boolean listening() {
        try (Socket s = new Socket("127.0.0.1", grpcPort)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** SIGKILL: no shutdown hook runs, nothing is flushed. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
    }

    void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            process.waitFor();
        }
    }
}
