package io.cohort.bench;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.jdbc.ResourceManager;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;

/**
 * The RM's JDBC wrapper under load, on a real PostgreSQL and a real TC process. Each scenario runs
 * {@code --concurrency} threads, a warm-up, then {@code --runs} measured runs; it prints ops/s per
 * run and latency percentiles of the last run, one JSON line per scenario:
 * <ul>
 *   <li>{@code plain}: HikariCP, a local transaction of one {@code UPDATE account SET balance =
 *       balance + 1 WHERE id = ?};</li>
 *   <li>{@code wrapped-local}: the same through the RM's DataSource proxy, outside any global
 *       transaction (the proxy's cost when Cohort is idle);</li>
 *   <li>{@code branch}: the same local transaction inside a global one — an AT branch (images,
 *       registration with the TC, undo log); begin and commit of the global transaction are not timed;</li>
 *   <li>{@code plain-transfer}: two such updates as two plain local transactions;</li>
 *   <li>{@code global-transfer}: begin, the two updates as two AT branches on two resources, global
 *       commit — the bank transfer, to compare with {@code plain-transfer}.</li>
 * </ul>
 * <pre>
 * java -Dloader.main=io.cohort.bench.RmProxyBench -jar bench/target/cohort-bench.jar \
 *      --pg-url=jdbc:postgresql://127.0.0.1:5432/postgres --pg-user=postgres --concurrency=8 --duration=10s
 * </pre>
 */
public final class RmProxyBench {

    private static final int ROWS = 10_000;

    private RmProxyBench() {
    }

    interface Op {
        /** One operation; returns the nanoseconds to count as its latency. */
        long run(ThreadLocalRandom random) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parse(args);
        String pgUrl = opts.getOrDefault("pg-url", "jdbc:postgresql://127.0.0.1:5432/postgres");
        String user = opts.getOrDefault("pg-user", "postgres");
        String password = opts.getOrDefault("pg-password", "");
        int concurrency = Integer.parseInt(opts.getOrDefault("concurrency", "8"));
        Duration duration = Duration.parse("PT" + opts.getOrDefault("duration", "10s").toUpperCase(Locale.ROOT));
        Duration warmup = Duration.parse("PT" + opts.getOrDefault("warmup", "10s").toUpperCase(Locale.ROOT));
        int runs = Integer.parseInt(opts.getOrDefault("runs", "3"));
        List<String> only = Arrays.asList(opts.getOrDefault("scenarios",
                "plain,wrapped-local,branch,plain-transfer,global-transfer").split(","));
        String jar = opts.getOrDefault("tc-jar", "tc-server/target/tc-server.jar");

        String dbUrl = createDatabase(pgUrl, user, password, "cohort_rm_bench");
        int grpcPort = TcBench.freePort();
        Path dataDir = Files.createTempDirectory("cohort-rm-bench");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-jar", jar, "--cohort.tc.grpc-port=" + grpcPort, "--server.port=" + TcBench.freePort(),
                "--cohort.tc.advertised-address=127.0.0.1:" + grpcPort, "--logging.level.root=WARN",
                "--cohort.tc.store.embedded.dir=" + dataDir));
        if (opts.containsKey("tc-args")) {
            command.addAll(List.of(opts.get("tc-args").split(" "))); // e.g. --cohort.tc.store.embedded.fsync=false
        }
        Process tc = new ProcessBuilder(command).inheritIO().start();
        try (HikariDataSource a = pool(dbUrl, user, password, concurrency);
             HikariDataSource b = pool(dbUrl, user, password, concurrency)) {
            TcBench.awaitPort(grpcPort, tc);
            TcClient tcClient = new TcClient(TcClientConfig.of("127.0.0.1:" + grpcPort, "rm-bench"));
            ResourceManager rm = ResourceManager.builder(BranchCoordinator.of(tcClient)).build();
            DataSource wrappedA = rm.wrap(a, "bench-a");
            DataSource wrappedB = rm.wrap(b, "bench-b");
            rm.connect(tcClient.config(), 2);
            if (!rm.awaitConnected(Duration.ofSeconds(30))) {
                throw new IllegalStateException("RM not connected to the TC");
            }
            String sql = "UPDATE account SET balance = balance + 1 WHERE id = ?";
            if (only.contains("plain")) {
                measure("plain", concurrency, warmup, duration, runs, r -> timed(() -> update(a, sql, r)));
            }
            if (only.contains("wrapped-local")) {
                measure("wrapped-local", concurrency, warmup, duration, runs, r -> timed(() -> update(wrappedA, sql, r)));
            }
            if (only.contains("branch")) {
                measure("branch", concurrency, warmup, duration, runs, r -> {
                    String xid = tcClient.begin("bench", Duration.ofSeconds(30), null);
                    String previous = XidContext.bind(xid);
                    long nanos;
                    try {
                        nanos = timed(() -> update(wrappedA, sql, r));
                    } finally {
                        XidContext.restore(previous);
                    }
                    tcClient.commit(xid);
                    return nanos;
                });
            }
            if (only.contains("plain-transfer")) {
                measure("plain-transfer", concurrency, warmup, duration, runs, r -> timed(() -> {
                    update(a, sql, r);
                    update(b, sql, r);
                }));
            }
            if (only.contains("global-transfer")) {
                measure("global-transfer", concurrency, warmup, duration, runs, r -> timed(() -> {
                    String xid = tcClient.begin("transfer", Duration.ofSeconds(30), null);
                    String previous = XidContext.bind(xid);
                    try {
                        update(wrappedA, sql, r);
                        update(wrappedB, sql, r);
                    } finally {
                        XidContext.restore(previous);
                    }
                    tcClient.commit(xid);
                }));
            }
            rm.close();
            tcClient.close();
        } finally {
            tc.destroy();
            tc.waitFor();
        }
    }

    interface Body {
        void run() throws Exception;
    }

    private static long timed(Body body) throws Exception {
        long start = System.nanoTime();
        body.run();
        return System.nanoTime() - start;
    }

    private static void update(DataSource ds, String sql, ThreadLocalRandom random) throws SQLException {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setLong(1, random.nextLong(1, ROWS + 1));
                ps.executeUpdate();
            }
            c.commit();
        }
    }

    private static void measure(String name, int concurrency, Duration warmup, Duration duration, int runs, Op op)
            throws InterruptedException {
        run(concurrency, warmup, op);
        double[] throughput = new double[runs];
        long[] latencies = null;
        for (int i = 0; i < runs; i++) {
            long started = System.nanoTime();
            latencies = run(concurrency, duration, op);
            throughput[i] = latencies.length / ((System.nanoTime() - started) / 1e9);
        }
        Arrays.sort(latencies);
        double[] sortedThroughput = throughput.clone();
        Arrays.sort(sortedThroughput);
        System.out.printf(Locale.ROOT, "{\"scenario\":\"%s\",\"concurrency\":%d,\"opsPerSec\":%s,\"medianOpsPerSec\":%.0f,"
                        + "\"p50Ms\":%.3f,\"p90Ms\":%.3f,\"p99Ms\":%.3f,\"maxMs\":%.3f}%n", name, concurrency,
                Arrays.toString(Arrays.stream(throughput).map(Math::rint).toArray()).replace(" ", ""),
                sortedThroughput[runs / 2], LoadRun.percentileMs(latencies, 0.50),
                LoadRun.percentileMs(latencies, 0.90), LoadRun.percentileMs(latencies, 0.99),
                latencies.length == 0 ? 0 : latencies[latencies.length - 1] / 1e6);
    }

    /** Runs {@code op} on {@code concurrency} threads for {@code duration}; returns every latency (ns). */
    private static long[] run(int concurrency, Duration duration, Op op) throws InterruptedException {
        AtomicBoolean stop = new AtomicBoolean();
        List<long[]> perThread = new ArrayList<>();
        int[] counts = new int[concurrency];
        CountDownLatch done = new CountDownLatch(concurrency);
        for (int t = 0; t < concurrency; t++) {
            long[] samples = new long[1 << 21];
            perThread.add(samples);
            int index = t;
            Thread thread = new Thread(() -> {
                ThreadLocalRandom random = ThreadLocalRandom.current();
                int n = 0;
                try {
                    while (!stop.get() && n < samples.length) {
                        samples[n++] = op.run(random);
                    }
                } catch (Exception e) {
                    System.err.println("operation failed: " + e);
                    n = Math.max(0, n - 1);
                } finally {
                    counts[index] = n;
                    done.countDown();
                }
            }, "bench-" + t);
            thread.start();
        }
        Thread.sleep(duration.toMillis());
        stop.set(true);
        done.await();
        int total = Arrays.stream(counts).sum();
        long[] all = new long[total];
        int at = 0;
        for (int t = 0; t < concurrency; t++) {
            System.arraycopy(perThread.get(t), 0, all, at, counts[t]);
            at += counts[t];
        }
        return all;
    }

    private static HikariDataSource pool(String url, String user, String password, int size) {
        HikariDataSource ds = new HikariDataSource();
        ds.setJdbcUrl(url);
        ds.setUsername(user);
        ds.setPassword(password);
        ds.setMaximumPoolSize(size);
        ds.setMinimumIdle(size);
        return ds;
    }

    /** A fresh database with the account table ({@value #ROWS} rows) and the RM's undo_log. */
    private static String createDatabase(String adminUrl, String user, String password, String name) throws Exception {
        try (Connection c = DriverManager.getConnection(adminUrl, user, password); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
            s.execute("CREATE DATABASE " + name);
        }
        String url = adminUrl.substring(0, adminUrl.lastIndexOf('/') + 1) + name;
        try (Connection c = DriverManager.getConnection(url, user, password); Statement s = c.createStatement();
             InputStream ddl = RmProxyBench.class.getResourceAsStream("/db/rm/postgresql.sql")) {
            s.execute(new String(ddl.readAllBytes(), StandardCharsets.UTF_8));
            s.execute("CREATE TABLE account (id bigint PRIMARY KEY, balance bigint NOT NULL)");
            s.execute("INSERT INTO account SELECT g, 0 FROM generate_series(1, " + ROWS + ") g");
        }
        return url;
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> opts = new java.util.HashMap<>();
        for (String a : args) {
            if (!a.startsWith("--") || !a.contains("=")) {
                throw new IllegalArgumentException("Unknown argument '" + a + "': use --name=value (concurrency, "
                        + "duration, warmup, runs, scenarios, tc-jar, pg-url, pg-user, pg-password)");
            }
            opts.put(a.substring(2, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
        }
        return opts;
    }
}
