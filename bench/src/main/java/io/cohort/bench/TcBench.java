package io.cohort.bench;

import io.cohort.client.BranchCommandHandler;
import io.cohort.client.RmConnection;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TmMadeXids;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The TC alone under load: each transaction is begin (an XID the client makes when the TC speaks
 * protocol minor 8, as the TM does; a Begin call otherwise), two branch registrations (one row lock
 * each, on two resources), commit; phase 2 runs against an in-process RM that answers at once.
 * The TC is a real child process ({@code java -jar tc-server.jar}) so its CPU can be measured
 * apart from the load generator's. {@code --store} and {@code --concurrency} take comma-separated
 * lists: every store is measured at every concurrency in one run (one TC per store, warmed up at
 * each concurrency first), so the figures of one run compare. Prints one JSON line per measurement,
 * with the load average of the machine at its end. With the PostgreSQL store the TC gets a fresh
 * database ({@code --pg-url} names the server's database to create it from, default
 * {@code postgres}), and the CPU of its PostgreSQL backends is measured too.
 *
 * <pre>
 * java -jar bench/target/cohort-bench.jar --store=embedded --concurrency=16 --duration=30s
 * java -jar bench/target/cohort-bench.jar --store=embedded,postgres --concurrency=16,64 --pg-url=jdbc:postgresql://127.0.0.1:5432/postgres
 * </pre>
 */
public final class TcBench {

    /** How long a TC child may take to listen: minutes on a loaded machine. */
    static final Duration START_DEADLINE = Duration.ofMinutes(5);

    /** What {@code tc} accepts, printed with any mistake in its arguments. */
    static final String USAGE = """
            usage: java -jar cohort-bench.jar tc [--name=value ...]
              --store=embedded[,postgres]   the TC's stores to measure (default embedded)
              --concurrency=16[,64]         client threads, one run per value (default 16)
              --duration=20s --warmup=20s   measured and warm-up time per concurrency (e.g. 30s, 1m, 500ms)
              --tc-jar=PATH                 the TC to start (default tc-server/target/tc-server.jar)
              --tc-java-opts='OPTS'         JVM options of the TC process, space-separated
              --hot-rows=N                  every transaction locks one of N rows (the same in both branches),
                                            waiting at the TC while another holds it (default 0: a new row each)
              --pg-url=jdbc:postgresql://127.0.0.1:5432/postgres --pg-user=postgres --pg-password=
                                            the server where --store=postgres gets a fresh database
              --thread-counts=false         true: after each JSON line, both JVMs' context switches and CPU
                                            per transaction by thread (name without digits)""";

    /** The benchmark's settings, parsed and checked before anything starts. */
    record Options(List<String> stores, List<Integer> concurrencies, Duration duration, Duration warmup,
                   String tcJar, List<String> tcJavaOpts, String pgUrl, String pgUser, String pgPassword,
                   boolean threadCounts, int hotRows) {

        static final List<String> NAMES = List.of("store", "concurrency", "duration", "warmup", "tc-jar",
                "tc-java-opts", "pg-url", "pg-user", "pg-password", "thread-counts", "hot-rows");

        static Options parse(String... args) {
            Map<String, String> opts = new HashMap<>();
            for (String a : args) {
                int eq = a.indexOf('=');
                String name = a.startsWith("--") && eq > 2 ? a.substring(2, eq) : null;
                if (name == null || !NAMES.contains(name)) {
                    throw new IllegalArgumentException("Unknown argument '" + a + "': use --name=value with a name among "
                            + String.join(", ", NAMES));
                }
                if (opts.put(name, a.substring(eq + 1)) != null) {
                    throw new IllegalArgumentException("--" + name + " is given twice");
                }
            }
            List<String> stores = new ArrayList<>();
            for (String store : opts.getOrDefault("store", "embedded").split(",")) {
                if (!store.trim().equals("embedded") && !store.trim().equals("postgres")) {
                    throw new IllegalArgumentException("--store takes embedded and/or postgres, was '" + store.trim() + "'");
                }
                stores.add(store.trim());
            }
            List<Integer> concurrencies = new ArrayList<>();
            for (String c : opts.getOrDefault("concurrency", "16").split(",")) {
                concurrencies.add(TransferBench.Options.positive("concurrency", c.trim()));
            }
            List<String> javaOpts = opts.containsKey("tc-java-opts") && !opts.get("tc-java-opts").isBlank()
                    ? List.of(opts.get("tc-java-opts").trim().split("\\s+")) : List.of();
            return new Options(List.copyOf(stores), List.copyOf(concurrencies),
                    TransferBench.Options.duration("duration", opts.getOrDefault("duration", "20s"), false),
                    TransferBench.Options.duration("warmup", opts.getOrDefault("warmup", "20s"), true),
                    opts.getOrDefault("tc-jar", "tc-server/target/tc-server.jar"), javaOpts,
                    opts.getOrDefault("pg-url", "jdbc:postgresql://127.0.0.1:5432/postgres"),
                    opts.getOrDefault("pg-user", "postgres"), opts.getOrDefault("pg-password", ""),
                    bool("thread-counts", opts.getOrDefault("thread-counts", "false")),
                    opts.containsKey("hot-rows") ? TransferBench.Options.positive("hot-rows", opts.get("hot-rows")) : 0);
        }

        private static boolean bool(String name, String value) {
            if (!value.equals("true") && !value.equals("false")) {
                throw new IllegalArgumentException("--" + name + " takes true or false, was '" + value + "'");
            }
            return value.equals("true");
        }
    }

    /** Runs every store at every concurrency of {@code options}. */
    static void run(Options options) throws Exception {
        for (String store : options.stores()) {
            runStore(options, store, options.concurrencies());
        }
    }

    private static void runStore(Options opts, String store, List<Integer> concurrencies) throws Exception {
        Duration duration = opts.duration();
        Duration warmup = opts.warmup();
        String jar = opts.tcJar();

        int grpcPort = freePort();
        Path dataDir = Files.createTempDirectory("cohort-bench");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g"));
        command.addAll(opts.tcJavaOpts());
        command.addAll(List.of("-jar", jar, "--cohort.tc.grpc-port=" + grpcPort, "--server.port=" + freePort(),
                "--cohort.tc.advertised-address=127.0.0.1:" + grpcPort, "--logging.level.root=WARN",
                "--cohort.tc.store.type=" + store, "--cohort.tc.store.embedded.dir=" + dataDir));
        PgBackends pg = null;
        if (store.equals("postgres")) {
            pg = PgBackends.freshDatabase(opts.pgUrl(), opts.pgUser(), opts.pgPassword(), BenchDatabase.named("cohort_bench_tc"));
            command.add("--cohort.tc.store.postgres.url=" + pg.url());
            command.add("--cohort.tc.store.postgres.username=" + pg.user());
            command.add("--cohort.tc.store.postgres.password=" + pg.password());
        }
        Process tc = new ProcessBuilder(command).inheritIO().start();
        try {
            awaitPort(grpcPort, tc);
            String address = "127.0.0.1:" + grpcPort;
            try (RmConnection rm = new RmConnection(TcClientConfig.of(address, "bench-rm"), "bench-rm",
                    List.of("bench://a", "bench://b"), answerAll(), 2);
                 TcClient client = new TcClient(TcClientConfig.of(address, "bench-tm"))) {
                while (rm.connectedReplicas() == 0) {
                    Thread.sleep(10);
                }
                for (int concurrency : concurrencies) {
                    run(client, concurrency, warmup, tc.pid(), null, null, false, opts.hotRows());
                    run(client, concurrency, duration, tc.pid(), store, pg, opts.threadCounts(), opts.hotRows());
                }
            }
        } finally {
            tc.destroy();
            tc.waitFor();
        }
    }

    private static BranchCommandHandler answerAll() {
        return commands -> commands.stream().map(c -> BranchResult.newBuilder().setRequestId(c.getRequestId())
                .setXid(c.getXid()).setBranchId(c.getBranchId())
                .setStatus(c.getAction() == BranchAction.COMMIT ? BranchStatusCode.BRANCH_PHASE2_COMMITTED
                        : BranchStatusCode.BRANCH_PHASE2_ROLLBACKED).build()).toList();
    }

    /** The hot rows' registrations wait at the TC for the holder, as the RM's do (its default budget, about). */
    private static final Duration HOT_ROW_WAIT = Duration.ofSeconds(10);

    private static void run(TcClient client, int concurrency, Duration duration, long tcPid, String store,
                            PgBackends pg, boolean threadCounts, int hotRows) throws Exception {
        AtomicLong rows = new AtomicLong();
        long cpuBefore = cpuNanos(tcPid);
        long benchCpuBefore = cpuNanos(ProcessHandle.current().pid());
        long pgBefore = pg == null ? 0 : pg.cpuNanos();
        long pgCommitsBefore = pg == null ? 0 : pg.commits();
        long[] tuplesBefore = pg == null ? new long[4] : pg.tuples();
        ThreadCounters tcThreadsBefore = ThreadCounters.of(tcPid);
        ThreadCounters benchThreadsBefore = ThreadCounters.of(ProcessHandle.current().pid());
        // The bench's own threads are counted before they end (the load's threads end with the run).
        ThreadCounters[] atEnd = new ThreadCounters[2];
        TcClient.CallsStreamTraffic trafficBefore = client.callsStreamTraffic();
        long start = System.nanoTime();
        LoadRun.Result run = LoadRun.run(concurrency, duration, "bench-", random -> {
            // As the TM does: no Begin call once the TC said it speaks minor 8 (its first Begin answer).
            String xid = client.beginLocally("bench", Duration.ofSeconds(30), TransactionProtocol.TWO_PHASE);
            if (xid == null) {
                xid = client.begin("bench", Duration.ofSeconds(30), TransactionProtocol.TWO_PHASE);
            }
            try {
                long row = hotRows > 0 ? random.nextInt(hotRows) : rows.incrementAndGet();
                Duration wait = hotRows > 0 ? HOT_ROW_WAIT : Duration.ZERO;
                client.registerBranch(xid, "bench://a", List.of("account:" + row), null, "bench-rm", wait);
                client.registerBranch(xid, "bench://b", List.of("account:" + row), null, "bench-rm", wait);
                client.commit(xid);
            } finally {
                TmMadeXids.forget(xid);
            }
        }, () -> {
            atEnd[0] = ThreadCounters.of(tcPid);
            atEnd[1] = ThreadCounters.of(ProcessHandle.current().pid());
        });
        double seconds = (System.nanoTime() - start) / 1e9;
        long cpu = cpuNanos(tcPid) - cpuBefore;
        long benchCpu = cpuNanos(ProcessHandle.current().pid()) - benchCpuBefore;
        long pgCpu = pg == null ? 0 : pg.cpuNanos() - pgBefore;
        long pgCommits = pg == null ? 0 : pg.commits() - pgCommitsBefore;
        long[] tuples = pg == null ? new long[4] : pg.tuples();
        ThreadCounters tcThreads = atEnd[0].since(tcThreadsBefore);
        ThreadCounters benchThreads = atEnd[1].since(benchThreadsBefore);
        long jitCpu = tcThreads.cpuNanosOf(ThreadCounters.JIT_COMPILERS);
        TcClient.CallsStreamTraffic traffic = client.callsStreamTraffic();
        if (store == null) {
            return; // warm-up
        }
        long[] all = run.latencies();
        int total = all.length;
        System.out.printf(Locale.ROOT, "{\"benchmark\":\"tc-only\",\"store\":\"%s\",\"concurrency\":%d,\"hot_rows\":%d,"
                        + "\"seconds\":%.1f,\"committed\":%d,\"failed\":%d,\"tps\":%.0f,\"p50_ms\":%.2f,\"p95_ms\":%.2f,"
                        + "\"p99_ms\":%.2f,\"tc_cpu_ms_per_tx\":%.3f,\"tc_jit_cpu_ms_per_tx\":%.3f,"
                        + "\"bench_cpu_ms_per_tx\":%.3f,\"tc_switches_per_tx\":%.2f,"
                        + "\"bench_switches_per_tx\":%.2f,\"calls_per_tx\":%.2f,\"call_messages_per_tx\":%.2f,"
                        + "\"answer_messages_per_tx\":%.2f%s,\"load_avg\":%.1f}%n",
                store, concurrency, hotRows, seconds, total, run.failed(), total / seconds, LoadRun.percentileMs(all, 0.50),
                LoadRun.percentileMs(all, 0.95), LoadRun.percentileMs(all, 0.99), total == 0 ? 0 : cpu / 1e6 / total,
                total == 0 ? 0 : jitCpu / 1e6 / total, total == 0 ? 0 : benchCpu / 1e6 / total,
                total == 0 ? 0 : (double) tcThreads.switches() / total,
                total == 0 ? 0 : (double) benchThreads.switches() / total,
                perTx(traffic.framesSent() - trafficBefore.framesSent(), total),
                perTx(traffic.messagesSent() - trafficBefore.messagesSent(), total),
                perTx(traffic.messagesReceived() - trafficBefore.messagesReceived(), total), pg == null || total == 0 ? ""
                        : String.format(Locale.ROOT, ",\"pg_cpu_ms_per_tx\":%.3f,\"pg_commits_per_tx\":%.2f,"
                                + "\"pg_rows_per_tx\":{\"ins\":%.2f,\"upd\":%.2f,\"hot_upd\":%.2f,\"del\":%.2f}",
                        pgCpu / 1e6 / total, (double) pgCommits / total, (double) (tuples[0] - tuplesBefore[0]) / total,
                        (double) (tuples[1] - tuplesBefore[1]) / total, (double) (tuples[3] - tuplesBefore[3]) / total,
                        (double) (tuples[2] - tuplesBefore[2]) / total), loadAverage());
        if (cpu > 0 && jitCpu > cpu / 10) {
            System.err.printf(Locale.ROOT, "The TC's JIT compilers used %d%% of its CPU in this measured run: its CPU and"
                    + " throughput figures still include warm-up; measure again with a longer --warmup%n",
                    Math.round(100.0 * jitCpu / cpu));
        }
        if (threadCounts && total > 0) {
            System.out.print(tcThreads.perTransaction("tc   ", total) + benchThreads.perTransaction("bench", total));
        }
    }

    private static double perTx(long count, int total) {
        return total == 0 ? 0 : (double) count / total;
    }

    /** User + system CPU of a process, from /proc (Linux). */
    static long cpuNanos(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]);
            return ticks * 10_000_000L; // USER_HZ = 100
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** The 1-minute load average (Linux), or -1. */
    static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    static void awaitPort(int port, Process tc) throws InterruptedException {
        long deadline = System.nanoTime() + START_DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            if (!tc.isAlive()) {
                throw new IllegalStateException("The TC exited with " + tc.exitValue());
            }
            try (Socket s = new Socket("127.0.0.1", port)) {
                return;
            } catch (IOException e) {
                Thread.sleep(50);
            }
        }
        throw new IllegalStateException("The TC did not listen on " + port + " within " + START_DEADLINE.toSeconds()
                + " s (is --tc-jar right? is the machine overloaded?)");
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
