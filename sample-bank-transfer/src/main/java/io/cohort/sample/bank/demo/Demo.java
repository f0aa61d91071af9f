package io.cohort.sample.bank.demo;

import java.io.IOException;
import java.io.PrintStream;
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
 *   <li>the database server: embedded PostgreSQL, unless {@code --demo.db-url} names a PostgreSQL or MariaDB
 *       server; databases {@code bank_a}, {@code bank_b} (see {@link DemoDatabases});</li>
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
        return run(args, System.out);
    }

    /**
     * Runs the demo, printing to {@code out}. With {@code --demo.exit-after-scenario=true} it stops
     * everything it started before returning; otherwise it serves until the JVM is stopped.
     */
    public static int run(String[] args, PrintStream out) throws Exception {
        Map<String, String> opts = options(args);
        Deque<AutoCloseable> started = new ArrayDeque<>();
        Thread cleanup = new Thread(() -> closeAll(started), "demo-shutdown");
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            return run(opts, started, out);
        } finally {
            if (Boolean.parseBoolean(opts.getOrDefault("exit-after-scenario", "false"))) {
                closeAll(started);
                Runtime.getRuntime().removeShutdownHook(cleanup);
            }
        }
    }

    private static int run(Map<String, String> opts, Deque<AutoCloseable> started, PrintStream out) throws Exception {
        Path work = opts.containsKey("work-dir") ? Path.of(opts.get("work-dir"))
                : Files.createTempDirectory("cohort-demo-");
        Files.createDirectories(work);
        out.println("Cohort bank-transfer demo; logs in " + work.toAbsolutePath());
        // How long the TC and each bank may take to start: a JVM and Spring on a loaded machine may need minutes.
        Duration startTimeout = Duration.ofSeconds(Long.parseLong(opts.getOrDefault("start-timeout-seconds", "120")));

        DemoDatabases db = DemoDatabases.start(opts.get("db-url"), opts.get("db-user"),
                opts.getOrDefault("db-password", ""), opts.getOrDefault("database-prefix", "bank"));
        started.push(db);
        String urlA = db.create("a");
        String urlB = db.create("b");
        out.println("Databases: " + db.describe() + " (" + db.bankDatabase("a") + ", " + db.bankDatabase("b") + ")");

        String tcAddress = opts.get("tc-address");
        String tcHttp = opts.get("tc-http");
        if (tcAddress == null || tcAddress.isBlank()) {
            int grpc = port(opts, "tc-grpc-port", 8091);
            int http = port(opts, "tc-http-port", 7091);
            Path jar = TcLauncher.findJar(opts.get("tc-jar"));
            ChildProcess tc = TcLauncher.embedded(jar, work.resolve("tc-data"), grpc, http, work);
            started.push(tc);
            tc.start(startTimeout);
            tcAddress = "127.0.0.1:" + grpc;
            tcHttp = "http://127.0.0.1:" + http;
            out.println("TC: " + jar + " (gRPC " + tcAddress + ", REST " + tcHttp + ")");
        } else if (tcHttp == null) {
            tcHttp = "http://" + tcAddress.substring(0, tcAddress.lastIndexOf(':')) + ":7091";
        }

        int portA = port(opts, "port-a", 8081);
        int portB = port(opts, "port-b", 8082);
        int accounts = Integer.parseInt(opts.getOrDefault("accounts", "10"));
        BankProcess a = bank("a", portA, portB, urlA, db, tcAddress, accounts, work);
        BankProcess b = bank("b", portB, portA, urlB, db, tcAddress, accounts, work);
        started.push(a);
        started.push(b);
        // Both JVMs start at once; each is ready when its health endpoint answers.
        CompletableFuture<BankProcess> startB = CompletableFuture.supplyAsync(() -> b.start(startTimeout));
        a.start(startTimeout);
        startB.join();
        out.println("Banks: A at " + a.url() + ", B at " + b.url());

        Duration timeout = Duration.ofSeconds(30);
        Scenario scenario = new Scenario(new BankClient("A", a.url(), timeout), new BankClient("B", b.url(), timeout),
                new TcApi(tcHttp), db, out, Integer.parseInt(opts.getOrDefault("burst", "100")),
                Integer.parseInt(opts.getOrDefault("concurrency", "8")),
                Boolean.parseBoolean(opts.getOrDefault("both-directions", "false")));
        boolean ok = scenario.play();

        if (Boolean.parseBoolean(opts.getOrDefault("exit-after-scenario", "false"))) {
            return ok ? 0 : 1;
        }
        out.println();
        out.println("The banks keep serving; try (Ctrl-C stops everything):");
        out.println("  curl -s " + a.url() + "/accounts");
        out.println("  curl -s " + a.url() + "/total; curl -s " + b.url() + "/total");
        out.println("  curl -s -X POST " + a.url() + "/transfers -H 'Content-Type: application/json' "
                + "-d '{\"from\":1,\"to\":2,\"amount\":500}'");
        out.println("  curl -s -X POST " + a.url() + "/transfers -H 'Content-Type: application/json' "
                + "-d '{\"from\":1,\"to\":2,\"amount\":500,\"failInPeer\":true}'");
        out.println("  curl -s '" + tcHttp + "/api/v1/transactions?size=5'");
        Thread.currentThread().join();
        return 0;
    }

    private static BankProcess bank(String name, int port, int peerPort, String jdbcUrl, DemoDatabases db,
                                    String tcAddress, int accounts, Path work) {
        Map<String, String> settings = new HashMap<>();
        settings.put("spring.datasource.url", jdbcUrl);
        settings.put("spring.datasource.username", db.user());
        settings.put("spring.datasource.password", db.password());
        settings.put("spring.sql.init.schema-locations", db.schemaLocations());
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

    /**
     * {@code --demo.name=value} arguments; anything else is a mistake worth saying. {@code pg-url},
     * {@code pg-user} and {@code pg-password} are the names {@code db-url}, {@code db-user} and
     * {@code db-password} had before MariaDB.
     */
    static Map<String, String> options(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (String arg : args) {
            if (!arg.startsWith("--demo.") || !arg.contains("=")) {
                throw new IllegalArgumentException("Unknown argument '" + arg + "'. The demo takes --demo.name=value: "
                        + "db-url, db-user, db-password, database-prefix, tc-jar, tc-address, tc-http, tc-grpc-port, "
                        + "tc-http-port, port-a, port-b, accounts, burst, concurrency, both-directions, work-dir, "
                        + "exit-after-scenario, start-timeout-seconds; or --bank=a|b to run one bank");
            }
            String name = arg.substring("--demo.".length(), arg.indexOf('='));
            opts.put(name.startsWith("pg-") ? "db-" + name.substring(3) : name, arg.substring(arg.indexOf('=') + 1));
        }
        return opts;
    }
}
