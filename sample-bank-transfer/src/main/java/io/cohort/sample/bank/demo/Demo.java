package io.cohort.sample.bank.demo;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The whole demo in one command: {@code java -jar bank-transfer-demo.jar}.
 * <ol>
 *   <li>PostgreSQL: embedded, unless {@code --demo.pg-url} names one; databases {@code bank_a}, {@code bank_b};</li>
 *   <li>the TC: {@code tc-server.jar} as a child process on its embedded store (see {@link TcLauncher}
 *       for where the jar is found), unless {@code --demo.tc-address} names a running one;</li>
 *   <li>bank A on port 8081 and bank B on 8082, each a child process of this same jar;</li>
 *   <li>the {@link Scenario}; then it keeps serving until Ctrl-C, or exits with 0 (invariants hold)
 *       or 1 (they do not) when {@code --demo.exit-after-scenario=true}.</li>
 * </ol>
 * Logs of the TC and the banks go to files in the work directory it prints.
 */
public final class Demo {

    private Demo() {
    }

    /** Runs the demo; returns the process exit status. */
    public static int run(String[] args) throws Exception {
        Map<String, String> opts = options(args);
        Path work = opts.containsKey("work-dir") ? Path.of(opts.get("work-dir"))
                : Files.createTempDirectory("cohort-demo-");
        Files.createDirectories(work);
        Deque<AutoCloseable> started = new ArrayDeque<>();
        Thread cleanup = new Thread(() -> closeAll(started), "demo-shutdown");
        Runtime.getRuntime().addShutdownHook(cleanup);
        System.out.println("Cohort bank-transfer demo; logs in " + work.toAbsolutePath());

        DemoDatabases pg = DemoDatabases.start(opts.get("pg-url"), opts.getOrDefault("pg-user", "postgres"),
                opts.getOrDefault("pg-password", ""));
        started.push(pg);
        String urlA = pg.database("bank_a");
        String urlB = pg.database("bank_b");
        System.out.println("PostgreSQL: " + pg.describe() + " (databases bank_a, bank_b)");

        String tcAddress = opts.get("tc-address");
        String tcHttp = opts.get("tc-http");
        if (tcAddress == null || tcAddress.isBlank()) {
            int grpc = port(opts, "tc-grpc-port", 8091);
            int http = port(opts, "tc-http-port", 7091);
            Path jar = TcLauncher.findJar(opts.get("tc-jar"));
            ChildProcess tc = TcLauncher.embedded(jar, work.resolve("tc-data"), grpc, http, work);
            started.push(tc);
            tc.start(Duration.ofSeconds(120));
            tcAddress = "127.0.0.1:" + grpc;
            tcHttp = "http://127.0.0.1:" + http;
            System.out.println("TC: " + jar + " (gRPC " + tcAddress + ", REST " + tcHttp + ")");
        } else if (tcHttp == null) {
            tcHttp = "http://" + tcAddress.substring(0, tcAddress.lastIndexOf(':')) + ":7091";
        }

        int portA = port(opts, "port-a", 8081);
        int portB = port(opts, "port-b", 8082);
        int accounts = Integer.parseInt(opts.getOrDefault("accounts", "10"));
        BankProcess a = bank("a", portA, portB, urlA, pg, tcAddress, accounts, work);
        BankProcess b = bank("b", portB, portA, urlB, pg, tcAddress, accounts, work);
        started.push(a);
        started.push(b);
        // Both JVMs start at once; each is ready when its health endpoint answers.
        CompletableFuture<BankProcess> startB = CompletableFuture.supplyAsync(b::start);
        a.start();
        startB.join();
        System.out.println("Banks: A at " + a.url() + ", B at " + b.url());

        Duration timeout = Duration.ofSeconds(30);
        Scenario scenario = new Scenario(new BankClient("A", a.url(), timeout), new BankClient("B", b.url(), timeout),
                new TcApi(tcHttp), pg, System.out, Integer.parseInt(opts.getOrDefault("burst", "100")),
                Integer.parseInt(opts.getOrDefault("concurrency", "8")),
                Boolean.parseBoolean(opts.getOrDefault("both-directions", "false")));
        boolean ok = scenario.play();

        if (Boolean.parseBoolean(opts.getOrDefault("exit-after-scenario", "false"))) {
            return ok ? 0 : 1;
        }
        System.out.println();
        System.out.println("The banks keep serving; try (Ctrl-C stops everything):");
        System.out.println("  curl -s " + a.url() + "/accounts");
        System.out.println("  curl -s " + a.url() + "/total; curl -s " + b.url() + "/total");
        System.out.println("  curl -s -X POST " + a.url() + "/transfers -H 'Content-Type: application/json' "
                + "-d '{\"from\":1,\"to\":2,\"amount\":500}'");
        System.out.println("  curl -s -X POST " + a.url() + "/transfers -H 'Content-Type: application/json' "
                + "-d '{\"from\":1,\"to\":2,\"amount\":500,\"failInPeer\":true}'");
        System.out.println("  curl -s '" + tcHttp + "/api/v1/transactions?size=5'");
        Thread.currentThread().join();
        return 0;
    }

    private static BankProcess bank(String name, int port, int peerPort, String jdbcUrl, DemoDatabases pg,
                                    String tcAddress, int accounts, Path work) {
        Map<String, String> settings = new HashMap<>();
        settings.put("spring.datasource.url", jdbcUrl);
        settings.put("spring.datasource.username", pg.user());
        settings.put("spring.datasource.password", pg.password());
        settings.put("bank.peer-url", "http://127.0.0.1:" + peerPort);
        settings.put("cohort.tc.address", tcAddress);
        settings.put("bank.seed-accounts", String.valueOf(accounts));
        return new BankProcess(name, port, settings, work, List.of("-Xmx256m", "-XX:TieredStopAtLevel=1"));
    }

    private static void closeAll(Deque<AutoCloseable> started) {
        while (!started.isEmpty()) {
            try {
                started.pop().close();
            } catch (Exception ignored) {
                // best effort on the way out
            }
        }
    }

    private static int port(Map<String, String> opts, String key, int fallback) throws IOException {
        int port = Integer.parseInt(opts.getOrDefault(key, String.valueOf(fallback)));
        if (port != 0) {
            return port;
        }
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** {@code --demo.name=value} arguments; anything else is a mistake worth saying. */
    static Map<String, String> options(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (String arg : args) {
            if (!arg.startsWith("--demo.") || !arg.contains("=")) {
                throw new IllegalArgumentException("Unknown argument '" + arg + "'. The demo takes --demo.name=value: "
                        + "pg-url, pg-user, pg-password, tc-jar, tc-address, tc-http, tc-grpc-port, tc-http-port, "
                        + "port-a, port-b, accounts, burst, concurrency, both-directions, work-dir, exit-after-scenario; "
                        + "or --bank=a|b to run one bank");
            }
            opts.put(arg.substring("--demo.".length(), arg.indexOf('=')), arg.substring(arg.indexOf('=') + 1));
        }
        return opts;
    }
}
