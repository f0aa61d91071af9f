package io.cohort.sample.bank.demo;

import io.cohort.sample.bank.Main;
import java.io.File;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One bank as a child JVM: {@code java -jar bank-transfer-demo.jar --bank=a ...} when running from
 * the jar, else the same main class on the current classpath. Separate processes so a bank can be
 * killed like a real service (and so the demo's console is not drowned in two services' logs).
 */
public final class BankProcess implements AutoCloseable {

    private final String bank;
    private final int port;
    private final ChildProcess process;

    /**
     * @param settings extra {@code name=value} Spring properties (database URL, TC address, peer URL ...)
     */
    public BankProcess(String bank, int port, Map<String, String> settings, Path logDir, List<String> jvmOptions) {
        this.bank = bank;
        this.port = port;
        List<String> args = new ArrayList<>(List.of("--bank=" + bank, "--server.port=" + port));
        settings.forEach((k, v) -> args.add("--" + k + "=" + v));
        this.process = new ChildProcess("bank " + bank, command(jvmOptions, args), logDir.resolve("bank-" + bank + ".log"),
                URI.create(url() + "/actuator/health"));
    }

    /** The command that runs {@link Main} with {@code args}: the demo jar itself, or the classpath we run from. */
    static List<String> command(List<String> jvmOptions, List<String> args) {
        Path jar = demoJar();
        if (jar != null) {
            return ChildProcess.javaJar(jar, jvmOptions, args);
        }
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        return cmd;
    }

    /** The demo jar: system property {@code demo.jar}, else the jar this JVM runs from, else null. */
    static Path demoJar() {
        String explicit = System.getProperty("demo.jar");
        if (explicit != null && !explicit.isBlank()) {
            return Path.of(explicit);
        }
        String cp = System.getProperty("java.class.path", "");
        if (!cp.contains(File.pathSeparator) && cp.endsWith(".jar") && Files.isRegularFile(Path.of(cp))
                && Path.of(cp).getFileName().toString().startsWith("bank-transfer-demo")) {
            return Path.of(cp);
        }
        return null;
    }

    /**
     * Starts and waits until ready, 5 minutes at most, as a test TC does: a Spring Boot start took
     * over 120 s on a CI machine loaded to 46 (a bank that exits is seen at once either way).
     */
    public BankProcess start() {
        return start(Duration.ofMinutes(5));
    }

    /** Starts and waits until ready, {@code timeout} at most (a loaded machine may need minutes). */
    public BankProcess start(Duration timeout) {
        process.start(timeout);
        return this;
    }

    /** SIGKILL: the bank crashes mid-flight. */
    public void kill() {
        process.kill();
    }

    public String url() {
        return "http://127.0.0.1:" + port;
    }

    public String bank() {
        return bank;
    }

    public Path log() {
        return process.log();
    }

    public long pid() {
        return process.pid();
    }

    @Override
    public void close() {
        process.close();
    }
}
