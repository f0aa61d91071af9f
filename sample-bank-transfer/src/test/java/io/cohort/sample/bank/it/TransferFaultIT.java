package io.cohort.sample.bank.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.sample.bank.BankController.TransferResult;
import io.cohort.sample.bank.demo.BankClient;
import io.cohort.sample.bank.demo.BankProcess;
import io.cohort.sample.bank.demo.TcApi;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestPostgres;
import io.cohort.testsupport.TcpProxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The demo's two banks and the TC as real processes, transfers running concurrently while one
 * part crashes (SIGKILL) or loses the network; then, once recovered, every invariant:
 * total money unchanged, no negative balance, no undo log, no global lock, every global
 * transaction ended, and each transfer applied exactly once in both banks or in neither — and
 * applied if the client was told COMMITTED, not applied if told ROLLED_BACK.
 *
 * <p>The tests share one set of processes and build on each other's data; the checks are over
 * everything done so far.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TransferFaultIT {

    private static final int ACCOUNTS = 20;
    private static final long SEED = 1_000_000;
    private static final int CLIENTS = 8;
    /** Transfers committed before the fault, and again after it, before the load stops. */
    private static final int TRANSFERS_AROUND_THE_FAULT = 20;

    /** What a client asked for and what it was told. */
    record Attempt(long from, long to, long amount, String status) {
    }

    private static final Map<String, Attempt> attempts = new ConcurrentHashMap<>();
    private static TcProcess tc;
    private static TcpProxy proxyA;
    private static TcpProxy proxyB;
    private static BankProcess bankA;
    private static BankProcess bankB;
    private static BankClient clientA;
    private static String dbA;
    private static String dbB;

    @BeforeAll
    static void start() throws Exception {
        TestPostgres pg = TestPostgres.get();
        dbA = pg.createDatabase("bank_a");
        dbB = pg.createDatabase("bank_b");
        Path work = Files.createTempDirectory("transfer-fault-it");
        tc = TcProcess.embedded(work.resolve("tc-data")).start();
        proxyA = new TcpProxy("127.0.0.1", tc.grpcPort());
        proxyB = new TcpProxy("127.0.0.1", tc.grpcPort());
        int portA = TcProcess.freePort();
        int portB = TcProcess.freePort();
        bankA = bank("a", portA, portB, dbA, proxyA, work);
        bankB = bank("b", portB, portA, dbB, proxyB, work);
        CompletableFuture<BankProcess> b = CompletableFuture.supplyAsync(bankB::start);
        bankA.start();
        b.join();
        clientA = new BankClient("A", bankA.url(), Duration.ofSeconds(60));
        System.out.println("TransferFaultIT: TC log " + tc.log() + ", bank logs " + bankA.log() + ", " + bankB.log());
    }

    private static BankProcess bank(String name, int port, int peerPort, String db, TcpProxy proxy, Path work) {
        TestPostgres pg = TestPostgres.get();
        Map<String, String> settings = new HashMap<>();
        settings.put("spring.datasource.url", db);
        settings.put("spring.datasource.username", pg.user());
        settings.put("spring.datasource.password", pg.password());
        settings.put("spring.datasource.hikari.maximum-pool-size", "8");
        settings.put("bank.peer-url", "http://127.0.0.1:" + peerPort);
        settings.put("bank.seed-accounts", String.valueOf(ACCOUNTS));
        settings.put("bank.seed-balance", String.valueOf(SEED));
        settings.put("cohort.tc.address", proxy.address());
        settings.put("cohort.tm.retry-backoff", "200ms");
        // Cold C1-only banks on a loaded machine can take longer than the default 5 s to credit; below the
        // transfer's 30 s global timeout (TransferTraceIT's first transfer timed out at a load of 40).
        settings.put("bank.peer-timeout", "25s");
        // The serial collector: no concurrent GC threads competing for the machine's 2 cores at start.
        return new BankProcess(name, port, settings, work,
                List.of("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {bankA, bankB, proxyA, proxyB, tc}) {
            if (c != null) {
                c.close();
            }
        }
    }

    @Test
    @Order(1)
    void transfersSurviveTheTcBeingKilledAndRestarted() throws Exception {
        underLoad(() -> {
            tc.kill();
            sleep(2_000);
            tc.start();
        });
    }

    @Test
    @Order(2)
    void transfersSurviveTheCreditingBankBeingKilledAndRestarted() throws Exception {
        underLoad(() -> {
            bankB.kill();
            sleep(1_000);
            bankB.start();
        });
    }

    @Test
    @Order(3)
    void transfersSurviveTheNetworkBetweenTheDebitingBankAndTheTcBeingCut() throws Exception {
        underLoad(() -> {
            proxyA.blackhole();
            sleep(8_000);
            proxyA.heal();
        });
    }

    @Test
    @Order(4)
    void transfersSurviveTheNetworkBetweenTheCreditingBankAndTheTcBeingCut() throws Exception {
        underLoad(() -> {
            proxyB.blackhole();
            sleep(8_000);
            proxyB.heal();
        });
    }

    @Test
    @Order(5)
    void transfersSurviveTheDebitingBankAndItsTmBeingKilledAndRestarted() throws Exception {
        // Bank A begins every transfer: its in-flight global transactions lose their TM and are rolled back
        // by the TC at their timeout; its queued undo-log deletes die with it.
        underLoad(() -> {
            bankA.kill();
            sleep(1_000);
            bankA.start();
        });
    }

    /** Transfers from A to B on {@value #CLIENTS} threads for a while, the fault in the middle, then the checks. */
    private void underLoad(Runnable fault) throws Exception {
        AtomicBoolean running = new AtomicBoolean(true);
        Map<String, Integer> outcomes = new ConcurrentHashMap<>();
        List<CompletableFuture<Void>> clients = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            clients.add(CompletableFuture.runAsync(() -> {
                while (running.get()) {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    String id = UUID.randomUUID().toString();
                    long from = rnd.nextLong(1, ACCOUNTS + 1);
                    long to = rnd.nextLong(1, ACCOUNTS + 1);
                    long amount = rnd.nextLong(1, 10_000);
                    boolean failInPeer = rnd.nextInt(10) == 0;
                    attempts.put(id, new Attempt(from, to, amount, "SENT"));
                    TransferResult r = clientA.transfer(id, from, to, amount, failInPeer);
                    attempts.put(id, new Attempt(from, to, amount, r.status()));
                    outcomes.merge(r.status(), 1, Integer::sum);
                    if (!r.status().equals("COMMITTED")) {
                        sleep(50); // a client backs off after an error instead of spinning while the TC is down
                    }
                }
            }, java.util.concurrent.Executors.newCachedThreadPool()));
        }
        try {
            // Load before and after the fault, measured in transfers done rather than in seconds: a busy
            // machine gets as many as a quiet one.
            awaitCommitted(outcomes, TRANSFERS_AROUND_THE_FAULT, "before the fault");
            fault.run();
            awaitCommitted(outcomes, outcomes.getOrDefault("COMMITTED", 0) + TRANSFERS_AROUND_THE_FAULT,
                    "after the fault");
        } finally {
            running.set(false);
        }
        CompletableFuture.allOf(clients.toArray(CompletableFuture[]::new)).join();
        System.out.println("TransferFaultIT outcomes: " + new TreeMap<>(outcomes));
        assertThat(outcomes.getOrDefault("COMMITTED", 0)).as("transfers committed around the fault").isPositive();
        assertInvariants();
    }

    private static void awaitCommitted(Map<String, Integer> outcomes, int committed, String when) {
        // Only a hang hits this: a loaded machine (cold banks, a TC restarting) is slower, not stuck.
        Duration wait = Duration.ofMinutes(5);
        long deadline = System.nanoTime() + wait.toNanos();
        while (outcomes.getOrDefault("COMMITTED", 0) < committed) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Fewer than " + committed + " transfers committed " + when + " within "
                        + wait.toSeconds() + " s: " + new TreeMap<>(outcomes));
            }
            sleep(20);
        }
    }

    private static void assertInvariants() throws SQLException {
        TcApi api = new TcApi("http://127.0.0.1:" + tc.httpPort());
        boolean settled = api.awaitSettled(Duration.ofSeconds(180));
        assertThat(settled).as("every global transaction ended and no global lock is held; unfinished: %s",
                settled ? "" : api.unfinishedSample()).isTrue();
        assertThat(api.locks()).as("global locks at the TC").isZero();
        assertThat(api.unfinished()).as("unfinished global transactions at the TC").isZero();
        awaitNoUndoLogs();

        Map<Long, Long> balancesA = balances(dbA);
        Map<Long, Long> balancesB = balances(dbB);
        Map<String, long[]> ledgerA = ledger(dbA);
        Map<String, long[]> ledgerB = ledger(dbB);

        long total = sum(balancesA) + sum(balancesB);
        assertThat(total).as("total money in both banks").isEqualTo(2L * ACCOUNTS * SEED);
        assertThat(balancesA.values()).as("balances in bank A").allMatch(v -> v >= 0);
        assertThat(balancesB.values()).as("balances in bank B").allMatch(v -> v >= 0);
        assertBalancesMatchLedger("A", balancesA, ledgerA);
        assertBalancesMatchLedger("B", balancesB, ledgerB);

        assertThat(ledgerA.keySet()).as("transfers applied in A are exactly those applied in B")
                .containsExactlyInAnyOrderElementsOf(ledgerB.keySet());
        int committed = 0;
        int unknown = 0;
        for (Map.Entry<String, Attempt> e : attempts.entrySet()) {
            Attempt at = e.getValue();
            long[] debit = ledgerA.get(e.getKey());
            long[] credit = ledgerB.get(e.getKey());
            switch (at.status()) {
                case "COMMITTED" -> {
                    committed++;
                    assertThat(debit).as("debit of committed transfer %s", e.getKey()).containsExactly(at.from(), -at.amount());
                    assertThat(credit).as("credit of committed transfer %s", e.getKey()).containsExactly(at.to(), at.amount());
                }
                case "ROLLED_BACK" -> {
                    assertThat(debit).as("debit of rolled-back transfer %s", e.getKey()).isNull();
                    assertThat(credit).as("credit of rolled-back transfer %s", e.getKey()).isNull();
                }
                default -> {
                    unknown++;
                    if (debit != null) {
                        assertThat(debit).containsExactly(at.from(), -at.amount());
                        assertThat(credit).containsExactly(at.to(), at.amount());
                    }
                }
            }
        }
        assertThat(attempts.keySet()).as("every applied transfer was asked for").containsAll(ledgerA.keySet());
        System.out.printf("TransferFaultIT invariants hold: %d attempts, %d committed, %d applied, %d unknown to the client%n",
                attempts.size(), committed, ledgerA.size(), unknown);
    }

    private static void assertBalancesMatchLedger(String bank, Map<Long, Long> balances, Map<String, long[]> ledger) {
        Map<Long, Long> expected = new TreeMap<>();
        balances.keySet().forEach(id -> expected.put(id, SEED));
        ledger.values().forEach(e -> expected.merge(e[0], e[1], Long::sum));
        assertThat(new TreeMap<>(balances)).as("bank %s: each balance is the seed plus its ledger entries", bank)
                .isEqualTo(expected);
    }

    private static void awaitNoUndoLogs() throws SQLException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        long left;
        while ((left = count(dbA, "select count(*) from undo_log where log_status = 0")
                + count(dbB, "select count(*) from undo_log where log_status = 0")) > 0 && System.nanoTime() < deadline) {
            sleep(200);
        }
        assertThat(left).as("undo logs left in the banks").isZero();
    }

    private static Connection connect(String url) throws SQLException {
        TestPostgres pg = TestPostgres.get();
        return DriverManager.getConnection(url, pg.user(), pg.password());
    }

    private static long count(String url, String sql) throws SQLException {
        try (Connection c = connect(url); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static Map<Long, Long> balances(String url) throws SQLException {
        Map<Long, Long> out = new HashMap<>();
        try (Connection c = connect(url); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("select id, balance from account")) {
            while (rs.next()) {
                out.put(rs.getLong(1), rs.getLong(2));
            }
        }
        return out;
    }

    private static Map<String, long[]> ledger(String url) throws SQLException {
        Map<String, long[]> out = new HashMap<>();
        try (Connection c = connect(url); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("select transfer_id, account_id, amount from ledger")) {
            while (rs.next()) {
                out.put(rs.getString(1), new long[] {rs.getLong(2), rs.getLong(3)});
            }
        }
        return out;
    }

    private static long sum(Map<Long, Long> m) {
        return m.values().stream().mapToLong(Long::longValue).sum();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
