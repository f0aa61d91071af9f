package io.cohort.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.QueryLocksResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.ResourceManager;
import io.cohort.tm.CommitProtocol;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TmConfig;
import io.cohort.tm.template.TransactionDefinition;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
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
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;
import javax.sql.DataSource;

/**
 * The bank-transfer workload: debit one account in database A, credit one in database B.
 * <ul>
 *   <li>{@code local} — the two updates as two independent local transactions, no coordinator:
 *       the floor of the cost (and not atomic);</li>
 *   <li>{@code cohort} — the same two updates in one global transaction: the TM template begins and
 *       commits it at a real TC child process (embedded store, fsync on; {@code --tc-store=postgres}
 *       puts its store in a database of the same PostgreSQL server), each update is an AT
 *       branch through the RM's DataSource proxy (undo log, global row lock).</li>
 *   <li>{@code cohort-3pc} — the same, with three-phase commit: the TM's commit waits for the
 *       CanCommit vote of both branches (each RM checks its undo log and the current rows) and the
 *       PreCommit decision; PreCommit and DoCommit follow, and the row locks are held until DoCommit
 *       ends. Run it next to {@code cohort} to see what the extra round and the longer-held locks cost.</li>
 * </ul>
 * Both drivers run in the same process against the same PostgreSQL, the same accounts and the same
 * distribution, one after the other, each warmed up first. One JSON line per driver.
 *
 * <pre>
 * java -jar bench/target/cohort-bench.jar transfer --concurrency=16 --duration=30s --warmup=20s
 * java -jar bench/target/cohort-bench.jar transfer --pg-url=jdbc:postgresql://127.0.0.1:5432/postgres --distribution=hotspot
 * </pre>
 */
public final class TransferBench {

    private static final String DEBIT = "update account set balance = balance - ? where id = ?";
    private static final String CREDIT = "update account set balance = balance + ? where id = ?";

    private final Map<String, String> opts;
    private final int accounts;
    private final int concurrency;
    private final Duration duration;
    private final Duration warmup;
    private final boolean hotspot;
    private int embeddedPort;

    private TransferBench(Map<String, String> opts) {
        this.opts = opts;
        this.accounts = Integer.parseInt(opts.getOrDefault("accounts", "1000"));
        this.concurrency = Integer.parseInt(opts.getOrDefault("concurrency", "16"));
        this.duration = duration(opts.getOrDefault("duration", "30s"));
        this.warmup = duration(opts.getOrDefault("warmup", "20s"));
        String distribution = opts.getOrDefault("distribution", "uniform");
        if (!distribution.equals("uniform") && !distribution.equals("hotspot")) {
            throw new IllegalArgumentException("--distribution must be uniform or hotspot, was " + distribution);
        }
        this.hotspot = distribution.equals("hotspot");
    }

    public static void main(String[] args) throws Exception {
        new TransferBench(parse(args)).run();
    }

    private void run() throws Exception {
        List<String> drivers = List.of(opts.getOrDefault("drivers", "local,cohort").split(","));
        EmbeddedPostgres embedded = null;
        String serverUrl;
        String user = opts.getOrDefault("pg-user", "postgres");
        String password = opts.getOrDefault("pg-password", "");
        if (opts.containsKey("pg-url")) {
            String url = opts.get("pg-url");
            serverUrl = url.substring(0, url.indexOf('/', url.indexOf("//") + 2) + 1);
        } else {
            // Durable, like production: fsync and synchronous commit on (the embedded default turns the latter off).
            embedded = EmbeddedPostgres.builder().setServerConfig("fsync", "on")
                    .setServerConfig("synchronous_commit", "on").setServerConfig("max_connections", "300").start();
            embeddedPort = embedded.getPort();
            serverUrl = "jdbc:postgresql://127.0.0.1:" + embeddedPort + "/";
            user = "postgres";
            password = "";
        }
        int grpcPort = freePort();
        Path tcData = Files.createTempDirectory("cohort-transfer-bench");
        Process tc = startTc(grpcPort, tcData, serverUrl, user, password);
        try (HikariDataSource a = database(serverUrl, "cohort_bench_a", user, password);
             HikariDataSource b = database(serverUrl, "cohort_bench_b", user, password)) {
            Double localTps = null;
            for (String driver : drivers) {
                Result r = switch (driver.trim()) {
                    case "local" -> measure("local", new LocalDriver(a, b), tc.pid());
                    case "cohort" -> measureCohort("cohort", CommitProtocol.TWO_PHASE, a, b, grpcPort, tc.pid());
                    case "cohort-3pc" -> measureCohort("cohort-3pc", CommitProtocol.THREE_PHASE, a, b, grpcPort, tc.pid());
                    default -> throw new IllegalArgumentException("Unknown driver " + driver
                            + ": use local, cohort, cohort-3pc");
                };
                if (r.driver.equals("local")) {
                    localTps = r.tps;
                }
                System.out.println(r.json(localTps));
            }
        } finally {
            tc.destroy();
            tc.waitFor();
            if (embedded != null) {
                embedded.close();
            }
        }
    }

    // ---- drivers ----

    /** One transfer, from one thread; returns normally when committed. */
    interface Driver {
        void transfer(long from, long to, long amount) throws Exception;
    }

    /** Two independent local transactions. */
    record LocalDriver(DataSource a, DataSource b) implements Driver {
        @Override
        public void transfer(long from, long to, long amount) throws SQLException {
            update(a, DEBIT, from, amount);
            update(b, CREDIT, to, amount);
        }
    }

    static void update(DataSource ds, String sql, long id, long amount) throws SQLException {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setLong(1, amount);
                ps.setLong(2, id);
                if (ps.executeUpdate() != 1) {
                    throw new SQLException("no account " + id);
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    private Result measureCohort(String name, CommitProtocol protocol, HikariDataSource a, HikariDataSource b,
                                 int grpcPort, long tcPid) throws Exception {
        String address = "127.0.0.1:" + grpcPort;
        Timings timings = new Timings();
        try (TcClient tcClient = new TcClient(TcClientConfig.of(address, "transfer-bench"));
             ResourceManager rm = ResourceManager.builder(timings.around(BranchCoordinator.of(tcClient))).build()) {
            DataSource wrappedA = rm.wrap(a, "bench-a");
            DataSource wrappedB = rm.wrap(b, "bench-b");
            rm.connect(tcClient.config(), 4);
            GlobalTransactionTemplate template = new GlobalTransactionTemplate(tcClient, TmConfig.defaults());
            TransactionDefinition definition = TransactionDefinition.named("transfer").withProtocol(protocol);
            Driver cohort = (from, to, amount) -> {
                long t0 = System.nanoTime();
                long[] body = new long[1];
                template.execute(definition, () -> {
                    long b0 = System.nanoTime();
                    update(wrappedA, DEBIT, from, amount);
                    update(wrappedB, CREDIT, to, amount);
                    body[0] = System.nanoTime() - b0;
                    return null;
                });
                timings.record(System.nanoTime() - t0, body[0]);
            };
            Thread.sleep(500); // the RM's command stream announces both resources before the first branch
            Result r = measure(name, cohort, tcPid, timings);
            rm.flushUndoDeletes();
            return r;
        }
    }

    // ---- measuring ----

    private Result measure(String name, Driver driver, long tcPid) throws Exception {
        return measure(name, driver, tcPid, null);
    }

    private Result measure(String name, Driver driver, long tcPid, Timings timings) throws Exception {
        load(driver, warmup, null);
        if (timings != null) {
            timings.reset();
        }
        Result r = new Result(name);
        long bench0 = TcBench.cpuNanos(ProcessHandle.current().pid());
        long tc0 = TcBench.cpuNanos(tcPid);
        long pg0 = postgresCpuNanos();
        long start = System.nanoTime();
        long[] latencies = load(driver, duration, r);
        r.seconds = (System.nanoTime() - start) / 1e9;
        r.benchCpu = TcBench.cpuNanos(ProcessHandle.current().pid()) - bench0;
        r.tcCpu = TcBench.cpuNanos(tcPid) - tc0;
        r.pgCpu = postgresCpuNanos() - pg0;
        Arrays.sort(latencies);
        r.latencies = latencies;
        r.tps = r.committed / r.seconds;
        r.timings = timings;
        return r;
    }

    /** Runs {@code concurrency} threads for {@code length}; returns the latencies of committed transfers. */
    private long[] load(Driver driver, Duration length, Result r) throws InterruptedException {
        AtomicBoolean running = new AtomicBoolean(true);
        long[][] latencies = new long[concurrency][];
        int[] counts = new int[concurrency];
        AtomicLong aborted = new AtomicLong();
        CountDownLatch done = new CountDownLatch(concurrency);
        for (int t = 0; t < concurrency; t++) {
            int thread = t;
            Thread worker = new Thread(() -> {
                long[] mine = new long[1 << 16];
                int n = 0;
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                while (running.get()) {
                    long from = account(rnd);
                    long to = account(rnd);
                    long t0 = System.nanoTime();
                    try {
                        driver.transfer(from, to, 1 + rnd.nextInt(100));
                    } catch (Throwable e) {
                        aborted.incrementAndGet();
                        continue;
                    }
                    if (n == mine.length) {
                        mine = Arrays.copyOf(mine, n * 2);
                    }
                    mine[n++] = System.nanoTime() - t0;
                }
                latencies[thread] = mine;
                counts[thread] = n;
                done.countDown();
            }, "transfer-" + t);
            worker.start();
        }
        Thread.sleep(length.toMillis());
        running.set(false);
        done.await();
        int total = Arrays.stream(counts).sum();
        long[] all = new long[total];
        int k = 0;
        for (int t = 0; t < concurrency; t++) {
            System.arraycopy(latencies[t], 0, all, k, counts[t]);
            k += counts[t];
        }
        if (r != null) {
            r.committed = total;
            r.aborted = aborted.get();
        }
        return all;
    }

    /** Uniform over all accounts, or hot-spot: 80% of picks among accounts 1..10. */
    private long account(ThreadLocalRandom rnd) {
        if (hotspot && rnd.nextInt(100) < 80) {
            return 1 + rnd.nextInt(Math.min(10, accounts));
        }
        return 1 + rnd.nextInt(accounts);
    }

    /**
     * CPU of the PostgreSQL processes: the embedded server's (our descendants), or, with --pg-url,
     * every process named postgres on this machine (other users of that server are counted too). Backends that exit during the
     * run take their CPU with them; the pools keep theirs open.
     */
    private long postgresCpuNanos() {
        if (embeddedPort > 0) {
            // The embedded postmaster (started by pg_ctl, so not our child) and its backends.
            return ProcessHandle.allProcesses()
                    .filter(p -> isPostgres(Path.of("/proc", String.valueOf(p.pid()))))
                    .filter(p -> p.info().arguments().map(a -> String.join(" ", a).contains("-p " + embeddedPort))
                            .orElse(false))
                    .flatMap(p -> Stream.concat(Stream.of(p), p.descendants()))
                    .mapToLong(p -> TcBench.cpuNanos(p.pid())).sum();
        }
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            return procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit))
                    .filter(TransferBench::isPostgres)
                    .mapToLong(p -> TcBench.cpuNanos(Long.parseLong(p.getFileName().toString()))).sum();
        } catch (IOException e) {
            return 0;
        }
    }

    private static boolean isPostgres(Path proc) {
        try {
            return Files.readString(proc.resolve("comm")).trim().equals("postgres");
        } catch (IOException e) {
            return false;
        }
    }

    // ---- set-up ----

    private HikariDataSource database(String serverUrl, String name, String user, String password) throws Exception {
        try (Connection c = DriverManager.getConnection(serverUrl + "postgres", user, password);
             Statement s = c.createStatement()) {
            s.execute("drop database if exists " + name);
            s.execute("create database " + name);
        }
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(serverUrl + name);
        config.setUsername(user);
        config.setPassword(password);
        config.setMaximumPoolSize(concurrency + 4);
        config.setMinimumIdle(concurrency + 4);
        HikariDataSource ds = new HikariDataSource(config);
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("create table account (id bigint primary key, owner varchar(100) not null, balance bigint not null)");
            s.execute("insert into account select g, 'owner-' || g, 1000000000000 from generate_series(1, " + accounts + ") g");
            try (InputStream ddl = TransferBench.class.getResourceAsStream("/db/rm/postgresql.sql")) {
                s.execute(new String(ddl.readAllBytes(), StandardCharsets.UTF_8));
            }
            s.execute("vacuum analyze account");
        }
        return ds;
    }

    private Process startTc(int grpcPort, Path dataDir, String serverUrl, String user, String password)
            throws Exception {
        String store = opts.getOrDefault("tc-store", "embedded");
        if (!store.equals("embedded") && !store.equals("postgres")) {
            throw new IllegalArgumentException("--tc-store must be embedded or postgres, was " + store);
        }
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g"));
        if (opts.containsKey("tc-java-opts")) {
            command.addAll(List.of(opts.get("tc-java-opts").split(" ")));
        }
        command.addAll(List.of("-jar", opts.getOrDefault("tc-jar", "tc-server/target/tc-server.jar"),
                "--cohort.tc.grpc-port=" + grpcPort, "--server.port=" + freePort(),
                "--cohort.tc.advertised-address=127.0.0.1:" + grpcPort, "--logging.level.root=WARN",
                "--cohort.tc.store.embedded.dir=" + dataDir, "--cohort.tc.store.type=" + store));
        if (store.equals("postgres")) {
            // The TC's store on the same server as the two banks, in a database of its own.
            PgBackends tcDb = PgBackends.freshDatabase(serverUrl + "postgres", user, password, "cohort_bench_tc");
            command.add("--cohort.tc.store.postgres.url=" + tcDb.url());
            command.add("--cohort.tc.store.postgres.username=" + user);
            command.add("--cohort.tc.store.postgres.password=" + password);
        }
        Process tc = new ProcessBuilder(command).inheritIO().start();
        long deadline = System.nanoTime() + TcBench.START_DEADLINE.toNanos();
        while (true) {
            try (Socket s = new Socket("127.0.0.1", grpcPort)) {
                return tc;
            } catch (IOException e) {
                if (!tc.isAlive() || System.nanoTime() > deadline) {
                    throw new IllegalStateException("The TC did not start (is --tc-jar right?)");
                }
                Thread.sleep(50);
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static Duration duration(String s) {
        return Duration.parse("PT" + s.toUpperCase(Locale.ROOT));
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (String a : args) {
            if (!a.startsWith("--") || !a.contains("=")) {
                throw new IllegalArgumentException("Unknown argument '" + a + "': use --name=value (drivers, accounts, "
                        + "concurrency, duration, warmup, distribution, pg-url, pg-user, pg-password, tc-store, tc-jar, tc-java-opts)");
            }
            opts.put(a.substring(2, a.indexOf('=')), a.substring(a.indexOf('=') + 1));
        }
        return opts;
    }

    // ---- results ----

    /**
     * Wall-clock split of a committed global transaction: the TM's begin + commit RPCs (the
     * template minus its body), the RM's RegisterBranch RPCs, and the rest of the two branches
     * (SQL: image-taking update, undo-log insert, local commit).
     */
    static final class Timings {
        final LongAdder count = new LongAdder();
        final LongAdder total = new LongAdder();
        final LongAdder body = new LongAdder();
        final LongAdder register = new LongAdder();
        final LongAdder registers = new LongAdder();

        void record(long totalNanos, long bodyNanos) {
            count.increment();
            total.add(totalNanos);
            body.add(bodyNanos);
        }

        void reset() {
            count.reset();
            total.reset();
            body.reset();
            register.reset();
            registers.reset();
        }

        BranchCoordinator around(BranchCoordinator real) {
            return new BranchCoordinator() {
                @Override
                public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                             byte[] applicationData, String clientId) {
                    long t0 = System.nanoTime();
                    try {
                        return real.registerBranch(xid, resourceId, lockKeys, applicationData, clientId);
                    } finally {
                        register.add(System.nanoTime() - t0);
                        registers.increment();
                    }
                }

                @Override
                public void reportBranch(String xid, long branchId, BranchStatusCode status, String reason) {
                    real.reportBranch(xid, branchId, status, reason);
                }

                @Override
                public GlobalStatusResponse markRollbackOnly(String xid, String resourceId, String reason) {
                    return real.markRollbackOnly(xid, resourceId, reason);
                }

                @Override
                public QueryLocksResponse queryLocks(String resourceId, List<String> lockKeys, String ownXid) {
                    return real.queryLocks(resourceId, lockKeys, ownXid);
                }

                @Override
                public GlobalStatusResponse status(String xid) {
                    return real.status(xid);
                }

                @Override
                public GlobalStatus reportDecision(String xid, long branchId, BranchStatusCode status, String reason) {
                    return real.reportDecision(xid, branchId, status, reason);
                }
            };
        }

        String json() {
            double n = Math.max(1, count.sum());
            double totalMs = total.sum() / 1e6 / n;
            double bodyMs = body.sum() / 1e6 / n;
            double registerMs = register.sum() / 1e6 / n;
            return String.format(Locale.ROOT, "{\"mean_ms\":%.3f,\"tm_begin_commit_rpc_ms\":%.3f,"
                            + "\"rm_register_rpc_ms\":%.3f,\"branch_sql_and_local_commit_ms\":%.3f}",
                    totalMs, totalMs - bodyMs, registerMs, bodyMs - registerMs);
        }
    }

    private final class Result {
        final String driver;
        double seconds;
        long committed;
        long aborted;
        double tps;
        long[] latencies;
        long benchCpu;
        long tcCpu;
        long pgCpu;
        Timings timings;

        Result(String driver) {
            this.driver = driver;
        }

        String json(Double localTps) {
            double per = Math.max(1, committed) * 1e6;
            return String.format(Locale.ROOT, "{\"benchmark\":\"transfer\",\"driver\":\"%s\",\"accounts\":%d,"
                            + "\"distribution\":\"%s\",\"concurrency\":%d,\"seconds\":%.1f,\"committed\":%d,\"aborted\":%d,"
                            + "\"tps\":%.0f,\"p50_ms\":%.2f,\"p95_ms\":%.2f,\"p99_ms\":%.2f,"
                            + "\"cpu_ms_per_tx\":{\"bench\":%.3f,\"tc\":%.3f,\"postgres\":%.3f,\"total\":%.3f},"
                            + "\"ratio_to_local\":%s,\"tc_store\":\"%s\",\"load_avg\":%.1f%s}",
                    driver, accounts, hotspot ? "hotspot" : "uniform", concurrency, seconds, committed, aborted, tps,
                    pct(0.50), pct(0.95), pct(0.99), benchCpu / per, tcCpu / per, pgCpu / per,
                    (benchCpu + tcCpu + pgCpu) / per,
                    localTps == null || localTps == 0 ? "null" : String.format(Locale.ROOT, "%.3f", tps / localTps),
                    opts.getOrDefault("tc-store", "embedded"), TcBench.loadAverage(),
                    timings == null ? "" : ",\"profile\":" + timings.json());
        }

        private double pct(double p) {
            return latencies.length == 0 ? 0 : latencies[Math.min(latencies.length - 1, (int) (latencies.length * p))] / 1e6;
        }
    }
}
