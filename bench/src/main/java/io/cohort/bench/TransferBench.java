package io.cohort.bench;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.ForwardingBranchCoordinator;
import io.cohort.rm.RmConfig;
import io.cohort.rm.UndoLogFormat;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.tm.CommitProtocol;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TmConfig;
import io.cohort.tm.template.TransactionDefinition;
import java.io.IOException;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;

/**
 * The bank-transfer workload: debit one account in database A, credit one in database B.
 * <ul>
 *   <li>{@code local-autocommit} — no coordinator, each update its own autocommit statement, as a
 *       JPA repository or {@code JdbcTemplate} call outside a transaction runs it: one round trip per
 *       update. The strongest floor, and not atomic;</li>
 *   <li>{@code local-tx} — no coordinator, each update in an explicit local transaction
 *       ({@code setAutoCommit(false)}, update, commit: the update and its BEGIN share one round trip,
 *       the COMMIT is a second). The two databases are separate, so no one local transaction can
 *       span both updates; {@code local} is the old name of this driver;</li>
 *   <li>{@code cohort} — the same two updates in one global transaction: the TM template begins and
 *       commits it at a real TC child process (embedded store, fsync on; {@code --tc-store=postgres}
 *       puts its store in a database of the same PostgreSQL server), each update is an AT
 *       branch through the RM's DataSource proxy (undo log, global row lock).</li>
 *   <li>{@code cohort-autocommit} — {@code cohort} with each update its own autocommit statement through
 *       the RM's proxy, the {@code local-autocommit} floor's shape: with
 *       {@code cohort.rm.key-pinned-autocommit-updates} (on; {@code --key-pinned=off} turns it off) each
 *       branch registers first and then updates, writes its undo log and commits in one round trip.</li>
 *   <li>{@code cohort-3pc} — the same, with three-phase commit: the TM's commit waits for the
 *       CanCommit vote of both branches (each RM checks its undo log and the current rows) and the
 *       PreCommit decision; PreCommit and DoCommit follow, and the row locks are held until DoCommit
 *       ends. Run it next to {@code cohort} to see what the extra round and the longer-held locks cost.</li>
 * </ul>
 * The drivers run in the same process against the same database server — PostgreSQL (embedded, or
 * {@code --db-url=jdbc:postgresql://...}) or MariaDB ({@code --db-url=jdbc:mariadb://...}; see
 * {@link BenchDatabase}) — the same accounts and the same distribution, one after the other, each warmed up first (60 s by default, so the JIT is done:
 * {@code jit_ms} in the output is the bench JVM's compilation time inside the measured window). One
 * JSON line per driver, with its TPS as a ratio to each local floor measured in the same run.
 *
 * <pre>
 * java -jar bench/target/cohort-bench.jar transfer --concurrency=16 --duration=30s --warmup=60s
 * java -jar bench/target/cohort-bench.jar transfer --db-url=jdbc:postgresql://127.0.0.1:5432/postgres --distribution=hotspot
 * java -jar bench/target/cohort-bench.jar transfer --db-url=jdbc:mariadb://127.0.0.1:3306/ --db-user=root
 * </pre>
 */
public final class TransferBench {

    private static final String DEBIT = "update account set balance = balance - ? where id = ?";
    private static final String CREDIT = "update account set balance = balance + ? where id = ?";

    /** The floors, in the order their ratios are reported. */
    static final List<String> FLOORS = List.of("local-autocommit", "local-tx");

    /**
     * The benchmark's settings, parsed from {@code --name=value} arguments and checked before anything
     * starts: a mistyped name or value stops the run with what is wrong and what is accepted.
     */
    record Options(List<String> drivers, int accounts, int concurrency, Duration duration, Duration warmup,
                   boolean hotspot, String dbUrl, String dbUser, String dbPassword, String tcJar,
                   List<String> tcJavaOpts, List<String> tcArgs, String tcStore, boolean keyPinned, boolean counts,
                   UndoLogFormat undoLogFormat) {

        static final List<String> NAMES = List.of("drivers", "accounts", "concurrency", "duration", "warmup",
                "distribution", "db-url", "db-user", "db-password", "tc-store", "tc-jar", "tc-java-opts", "tc-args", "key-pinned",
                "counts", "undo-log-format");
        /** Names from before MariaDB: {@code --pg-url} is {@code --db-url}, and so on. */
        static final Map<String, String> OLD_NAMES = Map.of("pg-url", "db-url", "pg-user", "db-user",
                "pg-password", "db-password");
        static final List<String> DRIVERS = List.of("local-autocommit", "local-tx", "cohort", "cohort-3pc",
                "cohort-autocommit");
        static final String DEFAULT_DRIVERS = "local-autocommit,local-tx,cohort";

        static Options parse(String... args) {
            Map<String, String> opts = new HashMap<>();
            for (String a : args) {
                int eq = a.indexOf('=');
                String name = a.startsWith("--") && eq > 2 ? a.substring(2, eq) : null;
                name = name == null ? null : OLD_NAMES.getOrDefault(name, name);
                if (name == null || !NAMES.contains(name)) {
                    throw new IllegalArgumentException("Unknown argument '" + a + "': use --name=value with a name among "
                            + String.join(", ", NAMES));
                }
                if (opts.put(name, a.substring(eq + 1)) != null) {
                    throw new IllegalArgumentException("--" + name + " is given twice");
                }
            }
            List<String> drivers = new ArrayList<>();
            for (String d : opts.getOrDefault("drivers", DEFAULT_DRIVERS).split(",")) {
                String driver = d.trim().equals("local") ? "local-tx" : d.trim();
                if (!DRIVERS.contains(driver)) {
                    throw new IllegalArgumentException("Unknown driver '" + d.trim() + "' in --drivers: use "
                            + String.join(", ", DRIVERS) + " (local is local-tx)");
                }
                if (drivers.contains(driver)) {
                    throw new IllegalArgumentException("Driver " + driver + " is listed twice in --drivers");
                }
                drivers.add(driver);
            }
            String distribution = opts.getOrDefault("distribution", "uniform");
            if (!distribution.equals("uniform") && !distribution.equals("hotspot")) {
                throw new IllegalArgumentException("--distribution must be uniform or hotspot, was " + distribution);
            }
            String tcStore = opts.getOrDefault("tc-store", "embedded");
            if (!tcStore.equals("embedded") && !tcStore.equals("postgres")) {
                throw new IllegalArgumentException("--tc-store must be embedded or postgres, was " + tcStore);
            }
            String dbUrl = opts.get("db-url");
            if (dbUrl != null && !dbUrl.matches("jdbc:(postgresql|mariadb)://[^/]+/.*")) {
                throw new IllegalArgumentException("--db-url must look like jdbc:postgresql://host:5432/postgres or "
                        + "jdbc:mariadb://host:3306/, was " + dbUrl);
            }
            String keyPinned = opts.getOrDefault("key-pinned", "on");
            if (!keyPinned.equals("on") && !keyPinned.equals("off")) {
                throw new IllegalArgumentException("--key-pinned must be on or off, was " + keyPinned);
            }
            String counts = opts.getOrDefault("counts", "off");
            if (!counts.equals("on") && !counts.equals("off")) {
                throw new IllegalArgumentException("--counts must be on or off, was " + counts);
            }
            UndoLogFormat undoLogFormat;
            try {
                undoLogFormat = UndoLogFormat.parse(opts.getOrDefault("undo-log-format", "json"));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--undo-log-format must be json or binary, was "
                        + opts.get("undo-log-format"));
            }
            boolean mariaDb = dbUrl != null && dbUrl.startsWith("jdbc:mariadb:");
            if (mariaDb && tcStore.equals("postgres")) {
                throw new IllegalArgumentException("--tc-store=postgres needs a PostgreSQL server and --db-url names "
                        + "MariaDB: use --tc-store=embedded there");
            }
            return new Options(List.copyOf(drivers), positive(opts, "accounts", "1000"),
                    positive(opts, "concurrency", "16"), duration(opts, "duration", "30s", false),
                    duration(opts, "warmup", "60s", true), distribution.equals("hotspot"), dbUrl,
                    opts.getOrDefault("db-user", mariaDb ? "root" : "postgres"), opts.getOrDefault("db-password", ""),
                    opts.getOrDefault("tc-jar", "tc-server/target/tc-server.jar"), words(opts.get("tc-java-opts")),
                    words(opts.get("tc-args")), tcStore, keyPinned.equals("on"), counts.equals("on"),
                    undoLogFormat);
        }

        private static int positive(Map<String, String> opts, String name, String fallback) {
            return positive(name, opts.getOrDefault(name, fallback));
        }

        /** {@code value} of {@code --name} as a whole number of at least 1, or a refusal saying so. */
        static int positive(String name, String value) {
            try {
                int n = Integer.parseInt(value);
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException("--" + name + " must be a whole number of at least 1, was '" + value + "'");
        }

        private static Duration duration(Map<String, String> opts, String name, String fallback, boolean zeroOk) {
            return duration(name, opts.getOrDefault(name, fallback), zeroOk);
        }

        /** {@code value} of {@code --name} as a duration (30s, 2m, 1m30s, 500ms), or a refusal saying what is accepted. */
        static Duration duration(String name, String value, boolean zeroOk) {
            Duration d;
            try {
                d = value.endsWith("ms") ? Duration.ofMillis(Long.parseLong(value.substring(0, value.length() - 2)))
                        : Duration.parse("PT" + value.toUpperCase(Locale.ROOT));
            } catch (DateTimeParseException | NumberFormatException e) {
                throw new IllegalArgumentException("--" + name + " must be a duration such as 30s, 2m, 1m30s or 500ms, was '"
                        + value + "'");
            }
            if (d.isNegative() || (!zeroOk && d.isZero())) {
                throw new IllegalArgumentException("--" + name + " must be " + (zeroOk ? "0s or more" : "positive")
                        + ", was " + value);
            }
            return d;
        }

        private static List<String> words(String value) {
            return value == null || value.isBlank() ? List.of() : List.of(value.trim().split("\\s+"));
        }
    }

    private final Options options;
    private final int accounts;
    private final int concurrency;
    private final boolean hotspot;

    TransferBench(Options options) {
        this.options = options;
        this.accounts = options.accounts();
        this.concurrency = options.concurrency();
        this.hotspot = options.hotspot();
    }

    /** What {@code transfer} accepts, printed with any mistake in its arguments. */
    static final String USAGE = """
            usage: java -jar cohort-bench.jar transfer [--name=value ...]
              --drivers=local-autocommit,local-tx,cohort[,cohort-3pc,cohort-autocommit]
                                              what to measure, in this order (default: the first three)
              --concurrency=16 --accounts=1000 --distribution=uniform|hotspot
              --duration=30s --warmup=60s     measured and warm-up time per driver (e.g. 30s, 1m30s, 500ms)
              --pg-url=jdbc:postgresql://127.0.0.1:5432/postgres --pg-user=postgres --pg-password=
                                              PostgreSQL to use (default: an embedded one)
              --tc-store=embedded|postgres --tc-jar=PATH --tc-java-opts='OPTS' --tc-args='ARGS'
                                              the TC child process
              --key-pinned=on|off             the RM's cohort.rm.key-pinned-autocommit-updates (default on)
              --undo-log-format=json|binary   the RM's cohort.rm.undo-log-format (default json)
              --counts=off|on                 on: after each line, per transfer the bench's allocation, both JVMs'
                                              context switches, PostgreSQL's WAL and statements""";

    /** Runs the benchmark with checked options (see {@link Bench} for how arguments reach it). */
    static void run(Options options) throws Exception {
        new TransferBench(options).run();
    }

    /** Connections of the TC's pool on the PostgreSQL store (its {@code max-pool-size} default). */
    private static final int TC_STORE_POOL = 16;

    /**
     * Refuses, before anything starts, a run whose pools the server cannot hold: each bank's pool
     * keeps {@code concurrency + 4} connections open, and with {@code --tc-store=postgres} the TC
     * opens its own on the same server. Without this check the run fails in the middle of its set-up
     * with the driver's "too many clients".
     */
    private void requireConnections(BenchDatabase db) throws SQLException {
        int needed = 2 * (concurrency + 4) + (options.tcStore().equals("postgres") ? TC_STORE_POOL : 0);
        int free = db.freeConnections();
        if (needed > free) {
            throw new SetupException("--concurrency=" + concurrency + " needs " + needed + " connections to "
                    + db.serverUrl + " (two pools of " + (concurrency + 4) + (options.tcStore().equals("postgres")
                    ? " and the TC's " + TC_STORE_POOL : "") + "), but the server accepts " + free + " more: raise its "
                    + "max_connections, lower --concurrency, or leave out --db-url to use the embedded PostgreSQL "
                    + "(max_connections 300)");
        }
    }

    /** A run refused before it started, for a reason of the machine rather than of its arguments. */
    static final class SetupException extends RuntimeException {
        SetupException(String message) {
            super(message);
        }
    }

    private void run() throws Exception {
        String dbA = BenchDatabase.named("cohort_bench_a");
        String dbB = BenchDatabase.named("cohort_bench_b");
        int grpcPort = freePort();
        Path tcData = Files.createTempDirectory("cohort-transfer-bench");
        try (BenchDatabase db = BenchDatabase.open(options.dbUrl(), options.dbUser(), options.dbPassword(),
                List.of(dbA, dbB))) {
            requireConnections(db);
            Process tc = startTc(grpcPort, tcData, db.serverUrl, db.user, db.password);
            try (HikariDataSource a = db.create(dbA, accounts, concurrency + 4);
                 HikariDataSource b = db.create(dbB, accounts, concurrency + 4)) {
                Map<String, Result> floors = new LinkedHashMap<>();
                for (String driver : options.drivers()) {
                    Result r = switch (driver) {
                        case "local-autocommit" -> measure(driver, new LocalAutocommitDriver(a, b), tc.pid(), db, null);
                        case "local-tx" -> measure(driver, new LocalTxDriver(a, b), tc.pid(), db, null);
                        case "cohort" -> measureCohort(driver, CommitProtocol.TWO_PHASE, false, a, b, grpcPort, tc.pid(), db);
                        case "cohort-3pc" -> measureCohort(driver, CommitProtocol.THREE_PHASE, false, a, b, grpcPort,
                                tc.pid(), db);
                        case "cohort-autocommit" -> measureCohort(driver, CommitProtocol.TWO_PHASE, true, a, b, grpcPort,
                                tc.pid(), db);
                        default -> throw new IllegalStateException(driver); // Options.parse accepts no other
                    };
                    r.database = db.kind();
                    if (FLOORS.contains(driver)) {
                        floors.put(driver, r);
                    }
                    System.out.println(r.json(floors));
                    if (r.counts != null) {
                        System.out.print(r.counts);
                    }
                }
            } finally {
                tc.destroy();
                tc.waitFor();
            }
        }
    }

    // ---- drivers ----

    /** One transfer, from one thread; returns normally when committed. */
    interface Driver {
        void transfer(long from, long to, long amount) throws Exception;
    }

    /** Two autocommit statements, one per database: what a repository call outside a transaction runs. */
    record LocalAutocommitDriver(DataSource a, DataSource b) implements Driver {
        @Override
        public void transfer(long from, long to, long amount) throws SQLException {
            autocommitUpdate(a, DEBIT, from, amount);
            autocommitUpdate(b, CREDIT, to, amount);
        }
    }

    /** Two explicit local transactions, one per database, independent of each other. */
    record LocalTxDriver(DataSource a, DataSource b) implements Driver {
        @Override
        public void transfer(long from, long to, long amount) throws SQLException {
            update(a, DEBIT, from, amount);
            update(b, CREDIT, to, amount);
        }
    }

    static void autocommitUpdate(DataSource ds, String sql, long id, long amount) throws SQLException {
        try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setLong(1, amount);
            ps.setLong(2, id);
            if (ps.executeUpdate() != 1) {
                throw new SQLException("no account " + id);
            }
        }
    }

    static void update(DataSource ds, String sql, long id, long amount) throws SQLException {
        update(ds, sql, id, amount, null);
    }

    /** {@link #update}, adding the statement's own time (not the commit's) to {@code statementNanos} if given. */
    static void update(DataSource ds, String sql, long id, long amount, LongAdder statementNanos) throws SQLException {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setLong(1, amount);
                ps.setLong(2, id);
                long t0 = System.nanoTime();
                int rows = ps.executeUpdate();
                if (statementNanos != null) {
                    statementNanos.add(System.nanoTime() - t0);
                }
                if (rows != 1) {
                    throw new SQLException("no account " + id);
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
    }

    /**
     * A Cohort driver: each update in an explicit local transaction, or with {@code autocommit} its own
     * autocommit statement (the {@code local-autocommit} floor's shape; the split then counts the
     * whole statement, registration aside, as the undo and local commit).
     */
    private Result measureCohort(String name, CommitProtocol protocol, boolean autocommit, HikariDataSource a,
                                 HikariDataSource b, int grpcPort, long tcPid, BenchDatabase db) throws Exception {
        String address = "127.0.0.1:" + grpcPort;
        Timings timings = new Timings();
        try (TcClient tcClient = new TcClient(TcClientConfig.of(address, "transfer-bench"));
             ResourceManager rm = ResourceManager.builder(timings.around(BranchCoordinator.of(tcClient)))
                     .config(RmConfig.defaults().withKeyPinnedAutocommitUpdates(options.keyPinned())
                             .withUndoLogFormat(options.undoLogFormat())).build()) {
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
                    if (autocommit) {
                        autocommitUpdate(wrappedA, DEBIT, from, amount);
                        autocommitUpdate(wrappedB, CREDIT, to, amount);
                    } else {
                        update(wrappedA, DEBIT, from, amount, timings.statement);
                        update(wrappedB, CREDIT, to, amount, timings.statement);
                    }
                    body[0] = System.nanoTime() - b0;
                    return null;
                });
                timings.record(System.nanoTime() - t0, body[0]);
            };
            Thread.sleep(500); // the RM's command stream announces both resources before the first branch
            Result r = measure(name, cohort, tcPid, db, timings);
            rm.flushUndoDeletes();
            return r;
        }
    }

    // ---- measuring ----

    private Result measure(String name, Driver driver, long tcPid, BenchDatabase db, Timings timings)
            throws Exception {
        load(driver, options.warmup(), null);
        if (timings != null) {
            timings.reset();
        }
        Result r = new Result(name);
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        long jit0 = jit.getTotalCompilationTime();
        double load0 = loadAverage();
        long bench0 = TcBench.cpuNanos(ProcessHandle.current().pid());
        long tc0 = TcBench.cpuNanos(tcPid);
        BenchDatabase.CpuSample db0 = db.cpu();
        TransferCounts counts = options.counts() ? new TransferCounts(db.serverUrl + "postgres", db.user, db.password,
                List.of(BenchDatabase.named("cohort_bench_a"), BenchDatabase.named("cohort_bench_b")),
                db.kind().equals("postgresql")) : null;
        TransferCounts.Sample[] samples = new TransferCounts.Sample[2];
        if (counts != null) {
            samples[0] = counts.sample(tcPid);
        }
        long start = System.nanoTime();
        long[] latencies = load(driver, options.duration(), r, counts == null ? () -> { } : () -> samples[1] = counts.sample(tcPid));
        r.seconds = (System.nanoTime() - start) / 1e9;
        r.benchCpu = TcBench.cpuNanos(ProcessHandle.current().pid()) - bench0;
        r.tcCpu = TcBench.cpuNanos(tcPid) - tc0;
        BenchDatabase.CpuSample db1 = db.cpu();
        r.dbBackendCpu = db1.backends() - db0.backends();
        r.dbBackgroundCpu = db1.background() - db0.background();
        r.jitMs = jit.getTotalCompilationTime() - jit0;
        r.loadAverage = (load0 + loadAverage()) / 2;
        r.latencies = latencies;
        r.tps = r.committed / r.seconds;
        r.timings = timings;
        if (counts != null) {
            r.counts = TransferCounts.report(name, samples[0], samples[1], r.committed);
        }
        return r;
    }

    private static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    /** Runs {@code concurrency} threads for {@code length}; returns the latencies of committed transfers, sorted. */
    private long[] load(Driver driver, Duration length, Result r) throws InterruptedException {
        return load(driver, length, r, () -> { });
    }

    /** {@link #load}, running {@code atEnd} when the window ends, before the load's threads do. */
    private long[] load(Driver driver, Duration length, Result r, Runnable atEnd) throws InterruptedException {
        LoadRun.Result run = LoadRun.run(concurrency, length, "transfer-",
                random -> driver.transfer(account(random), account(random), 1 + random.nextInt(100)), atEnd);
        if (r != null) {
            r.committed = run.latencies().length;
            r.aborted = run.failed();
        }
        return run.latencies();
    }

    /** Uniform over all accounts, or hot-spot: 80% of picks among accounts 1..10. */
    private long account(ThreadLocalRandom rnd) {
        if (hotspot && rnd.nextInt(100) < 80) {
            return 1 + rnd.nextInt(Math.min(10, accounts));
        }
        return 1 + rnd.nextInt(accounts);
    }

    // ---- set-up ----

    private Process startTc(int grpcPort, Path dataDir, String serverUrl, String user, String password)
            throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g"));
        command.addAll(options.tcJavaOpts());
        command.addAll(List.of("-jar", options.tcJar(),
                "--cohort.tc.grpc-port=" + grpcPort, "--server.port=" + freePort(),
                "--cohort.tc.advertised-address=127.0.0.1:" + grpcPort, "--logging.level.root=WARN",
                "--cohort.tc.store.embedded.dir=" + dataDir, "--cohort.tc.store.type=" + options.tcStore()));
        if (options.tcStore().equals("postgres")) {
            // The TC's store on the same server as the two banks, in a database of its own.
            PgBackends tcDb = PgBackends.freshDatabase(serverUrl + "postgres", user, password, BenchDatabase.named("cohort_bench_tc"));
            command.add("--cohort.tc.store.postgres.url=" + tcDb.url());
            command.add("--cohort.tc.store.postgres.username=" + user);
            command.add("--cohort.tc.store.postgres.password=" + password);
        }
        command.addAll(options.tcArgs());
        Process tc = new ProcessBuilder(command).inheritIO().start();
        // A loaded machine (builds next to the benchmark) can take minutes to start a JVM and Spring.
        long deadline = System.nanoTime() + Duration.ofMinutes(5).toNanos();
        while (true) {
            try (Socket s = new Socket("127.0.0.1", grpcPort)) {
                return tc;
            } catch (IOException e) {
                if (!tc.isAlive() || System.nanoTime() > deadline) {
                    tc.destroyForcibly();
                    throw new IllegalStateException(tc.isAlive() ? "The TC did not open its gRPC port within 5 minutes"
                            : "The TC exited with " + tc.exitValue() + " before it opened its gRPC port (is --tc-jar right?"
                            + " its output is above)");
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

    // ---- results ----

    /**
     * Wall-clock split of a committed global transaction: the TM's begin + commit RPCs (the
     * template minus its body), the two branches' image-taking UPDATEs (with any wait for a
     * PostgreSQL row lock another transaction holds), the RM's RegisterBranch RPCs (with any wait
     * at the TC for a global lock), and the rest of the branches' commits (undo-log insert, local
     * commit). Under contention the UPDATE and the registration are where the waits show.
     */
    static final class Timings {
        final LongAdder count = new LongAdder();
        final LongAdder total = new LongAdder();
        final LongAdder body = new LongAdder();
        final LongAdder statement = new LongAdder();
        final LongAdder register = new LongAdder();
        final LongAdder registers = new LongAdder();
        /** Registrations answered with a lock conflict (the RM then asks again or gives up). */
        final LongAdder conflicts = new LongAdder();

        void record(long totalNanos, long bodyNanos) {
            count.increment();
            total.add(totalNanos);
            body.add(bodyNanos);
        }

        void reset() {
            count.reset();
            total.reset();
            body.reset();
            statement.reset();
            register.reset();
            registers.reset();
            conflicts.reset();
        }

        BranchCoordinator around(BranchCoordinator real) {
            return new ForwardingBranchCoordinator(real) {
                @Override
                public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                             byte[] applicationData, String clientId) {
                    long t0 = System.nanoTime();
                    try {
                        return super.registerBranch(xid, resourceId, lockKeys, applicationData, clientId);
                    } finally {
                        register.add(System.nanoTime() - t0);
                        registers.increment();
                    }
                }

                @Override
                public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                             byte[] applicationData, String clientId, long lockWaitMs) {
                    long t0 = System.nanoTime();
                    try {
                        return super.registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs);
                    } finally {
                        register.add(System.nanoTime() - t0);
                        registers.increment();
                    }
                }

                @Override
                public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                             byte[] applicationData, String clientId, long lockWaitMs,
                                                             long branchId) {
                    long t0 = System.nanoTime();
                    try {
                        RegisterBranchResponse response = super.registerBranch(xid, resourceId, lockKeys,
                                applicationData, clientId, lockWaitMs, branchId);
                        if (response.hasConflict()) {
                            conflicts.increment();
                        }
                        return response;
                    } finally {
                        register.add(System.nanoTime() - t0);
                        registers.increment();
                    }
                }
            };
        }

        String json() {
            double n = Math.max(1, count.sum());
            double totalMs = total.sum() / 1e6 / n;
            double bodyMs = body.sum() / 1e6 / n;
            double registerMs = register.sum() / 1e6 / n;
            double statementMs = statement.sum() / 1e6 / n;
            return String.format(Locale.ROOT, "{\"mean_ms\":%.3f,\"tm_begin_commit_rpc_ms\":%.3f,"
                            + "\"rm_update_ms\":%.3f,\"rm_register_rpc_ms\":%.3f,\"rm_undo_and_local_commit_ms\":%.3f,"
                            + "\"register_conflicts\":%d}",
                    totalMs, totalMs - bodyMs, statementMs, registerMs, bodyMs - statementMs - registerMs,
                    conflicts.sum());
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
        long dbBackendCpu;
        long dbBackgroundCpu;
        String database;
        long jitMs;
        double loadAverage;
        Timings timings;
        String counts;

        Result(String driver) {
            this.driver = driver;
        }

        /** @param floors the floors measured so far in this run (this one included, if it is one) */
        String json(Map<String, Result> floors) {
            double per = Math.max(1, committed) * 1e6;
            StringBuilder ratios = new StringBuilder();
            for (Result floor : floors.values()) {
                ratios.append(ratios.isEmpty() ? "" : ",").append(String.format(Locale.ROOT,
                        "\"%s\":{\"tps\":%.3f,\"p99\":%.2f}", floor.driver, floor.tps == 0 ? 0 : tps / floor.tps,
                        floor.pct(0.99) == 0 ? 0 : pct(0.99) / floor.pct(0.99)));
            }
            return String.format(Locale.ROOT, "{\"benchmark\":\"transfer\",\"database\":\"%s\",\"driver\":\"%s\",\"accounts\":%d,"
                            + "\"distribution\":\"%s\",\"concurrency\":%d,\"seconds\":%.1f,\"committed\":%d,\"aborted\":%d,"
                            + "\"tps\":%.0f,\"p50_ms\":%.2f,\"p95_ms\":%.2f,\"p99_ms\":%.2f,"
                            + "\"cpu_ms_per_tx\":{\"bench\":%.3f,\"tc\":%.3f,\"db_backends\":%.3f,"
                            + "\"db_background\":%.3f,\"total\":%.3f},\"ratio_to\":{%s},"
                            + "\"jit_ms\":%d,\"tc_store\":\"%s\",\"load_average\":%.1f%s}",
                    database, driver, accounts, hotspot ? "hotspot" : "uniform", concurrency, seconds, committed, aborted, tps,
                    pct(0.50), pct(0.95), pct(0.99), benchCpu / per, tcCpu / per, dbBackendCpu / per,
                    dbBackgroundCpu / per, (benchCpu + tcCpu + dbBackendCpu + dbBackgroundCpu) / per, ratios, jitMs,
                    options.tcStore(), loadAverage, timings == null ? "" : ",\"profile\":" + timings.json());
        }

        private double pct(double p) {
            return LoadRun.percentileMs(latencies, p);
        }
    }
}
