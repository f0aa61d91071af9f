package io.cohort.sample.bank.demo;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds and starts the real TC ({@code tc-server.jar}) as a child process on its embedded store.
 * The jar is, in this order: the {@code --demo.tc-jar} argument; {@code tc-server.jar} next to the
 * demo jar (the build copies it there); {@code tc-server/target/tc-server.jar} under the current
 * directory (a source checkout).
 */
public final class TcLauncher {

    private TcLauncher() {
    }

    static Path findJar(String explicit) {
        List<Path> candidates = new ArrayList<>();
        if (explicit != null && !explicit.isBlank()) {
            Path p = Path.of(explicit);
            if (!Files.isRegularFile(p)) {
                throw new IllegalArgumentException("--demo.tc-jar=" + explicit + ": no such file");
            }
            return p;
        }
        Path demoJar = BankProcess.demoJar();
        if (demoJar != null && demoJar.toAbsolutePath().getParent() != null) {
            candidates.add(demoJar.toAbsolutePath().getParent().resolve("tc-server.jar"));
        }
        candidates.add(Path.of("sample-bank-transfer", "target", "tc-server.jar"));
        candidates.add(Path.of("tc-server", "target", "tc-server.jar"));
        candidates.add(Path.of("target", "tc-server.jar"));
        for (Path c : candidates) {
            if (Files.isRegularFile(c)) {
                return c;
            }
        }
        throw new IllegalStateException("No tc-server.jar found (looked at " + candidates + "); build with "
                + "./mvnw -DskipTests package, or pass --demo.tc-jar=/path/to/tc-server.jar, "
                + "or use a running TC with --demo.tc-address=host:8091");
    }

    /** A TC on the embedded store in {@code dataDir}, gRPC on {@code grpcPort}, HTTP on {@code httpPort}. */
    static ChildProcess embedded(Path jar, Path dataDir, int grpcPort, int httpPort, Path logDir) {
        List<String> args = List.of("--cohort.tc.store.embedded.dir=" + dataDir, "--cohort.tc.grpc-port=" + grpcPort,
                "--server.port=" + httpPort, "--cohort.tc.advertised-address=127.0.0.1:" + grpcPort,
                "--cohort.tc.recovery.interval=200ms", "--cohort.tc.recovery.initial-backoff=100ms");
        return new ChildProcess("TC", ChildProcess.javaJar(jar, List.of("-Xmx256m"), args), logDir.resolve("tc.log"),
                URI.create("http://127.0.0.1:" + httpPort + "/actuator/health"));
    }
}
