package io.cohort.sample.bank.demo;

import io.cohort.sample.bank.BankController.TransferResult;
import java.io.PrintStream;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the demo shows, in order: a transfer that commits, one that fails in bank B after B has
 * credited (and is undone in both banks), one refused for insufficient funds, then a burst of
 * concurrent transfers with random failures. Then it checks that no money was created or lost:
 * each bank's total moved by exactly the transfers that committed, the sum of both is unchanged,
 * no balance is negative, and nothing is left behind (unfinished global transactions, global
 * locks, undo logs).
 */
public final class Scenario {

    private final BankClient a;
    private final BankClient b;
    private final TcApi tc;
    private final DemoDatabases databases;
    private final PrintStream out;
    private final int burst;
    private final int concurrency;
    private final boolean bothDirections;

    public Scenario(BankClient a, BankClient b, TcApi tc, DemoDatabases databases, PrintStream out, int burst,
                    int concurrency, boolean bothDirections) {
        this.a = a;
        this.b = b;
        this.tc = tc;
        this.databases = databases;
        this.out = out;
        this.burst = burst;
        this.concurrency = concurrency;
        this.bothDirections = bothDirections;
    }

    /** Plays the scenario; true when every invariant holds. */
    public boolean play() throws Exception {
        long totalA0 = a.total().total();
        long totalB0 = b.total().total();
        int accounts = (int) a.total().accounts();
        out.println();
        out.println("== Before ==");
        printBalances();

        out.println();
        out.println("== 1. Transfer 250.00 from A#1 to B#1: both banks commit ==");
        TransferResult first = a.transfer(null, 1, 1, 25_000, false);
        show(first);
        settle();
        printAccount(1, 1);

        out.println();
        out.println("== 2. Transfer 100.00 from A#2 to B#2, bank B fails after crediting: both sides are undone ==");
        TransferResult second = a.transfer(null, 2, 2, 10_000, true);
        show(second);
        settle();
        printAccount(2, 2);

        out.println();
        out.println("== 3. Transfer 1,000,000.00 from A#3 to B#3: insufficient funds, nothing changes ==");
        TransferResult third = a.transfer(null, 3, 3, 100_000_000, false);
        show(third);
        settle();
        printAccount(3, 3);

        out.println();
        out.printf(Locale.ROOT, "== 4. A burst of %d concurrent transfers (%d at a time) %s; "
                + "about 1 in 5 fails in the other bank, some name an unknown account ==%n", burst, concurrency,
                bothDirections ? "in both directions" : "from A to B");
        Map<String, AtomicLong> outcomes = new TreeMap<>();
        long[] committedAtoB = {0};
        long[] committedBtoA = {0};
        long started = System.nanoTime();
        List<TransferResult> results = burst(accounts);
        Map<String, AtomicLong> reasons = new TreeMap<>();
        for (TransferResult r : results) {
            outcomes.computeIfAbsent(r.status(), s -> new AtomicLong()).incrementAndGet();
            if (r.error() != null) {
                reasons.computeIfAbsent(r.status() + ": " + shortReason(r.error()), s -> new AtomicLong()).incrementAndGet();
            }
        }
        out.printf(Locale.ROOT, "   %d transfers in %.1f s: %s%n", results.size(), (System.nanoTime() - started) / 1e9,
                outcomes);
        reasons.forEach((reason, n) -> out.printf("     %4d x %s%n", n.get(), reason));
        boolean settled = settle();

        // The single transfers of steps 1-3, by what each was told: step 1 should commit, but on a busy
        // machine it may time out and roll back, and then it moved nothing.
        long[] singles = {25_000, 10_000, 100_000_000};
        TransferResult[] told = {first, second, third};
        for (int i = 0; i < singles.length; i++) {
            committedAtoB[0] += "COMMITTED".equals(told[i].status()) ? singles[i] : 0;
        }
        for (int i = 0; i < results.size(); i++) {
            TransferResult r = results.get(i);
            if ("COMMITTED".equals(r.status())) {
                long amount = amounts.get(r.id());
                if (r.id().startsWith("a-")) {
                    committedAtoB[0] += amount;
                } else {
                    committedBtoA[0] += amount;
                }
            }
        }

        out.println();
        out.println("== After ==");
        printBalances();
        long totalA1 = a.total().total();
        long totalB1 = b.total().total();
        long negative = a.total().negative() + b.total().negative();
        long unknown = outcomes.getOrDefault("UNKNOWN", new AtomicLong()).get()
                + Arrays.stream(told).filter(r -> "UNKNOWN".equals(r.status())).count();

        out.println();
        out.println("== Invariants ==");
        boolean ok = true;
        ok &= check("total money unchanged: " + money(totalA0 + totalB0) + " before, " + money(totalA1 + totalB1)
                + " after", totalA0 + totalB0 == totalA1 + totalB1);
        if (unknown == 0) {
            ok &= check("bank A moved by exactly the committed transfers (" + money(totalA1 - totalA0) + ", expected "
                    + money(committedBtoA[0] - committedAtoB[0]) + ")",
                    totalA1 - totalA0 == committedBtoA[0] - committedAtoB[0]);
            ok &= check("bank B moved by exactly the committed transfers (" + money(totalB1 - totalB0) + ", expected "
                    + money(committedAtoB[0] - committedBtoA[0]) + ")",
                    totalB1 - totalB0 == committedAtoB[0] - committedBtoA[0]);
        }
        ok &= check("no negative balance", negative == 0);
        ok &= check("every global transaction ended, no global lock held (TC API)", settled);
        ok &= check("no undo log left in either bank", awaitNoUndoLogs(Duration.ofSeconds(30)));
        out.println(ok ? "All invariants hold." : "SOME INVARIANT DOES NOT HOLD.");
        return ok;
    }

    private final Map<String, Long> amounts = new ConcurrentHashMap<>();

    private List<TransferResult> burst(int accounts) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        try {
            List<Future<TransferResult>> futures = new ArrayList<>();
            for (int i = 0; i < burst; i++) {
                boolean fromA = !bothDirections || i % 2 == 0;
                futures.add(pool.submit(() -> {
                    ThreadLocalRandom rnd = ThreadLocalRandom.current();
                    String id = (fromA ? "a-" : "b-") + UUID.randomUUID();
                    long amount = 100 * rnd.nextLong(1, 100);
                    amounts.put(id, amount);
                    long from = rnd.nextLong(1, accounts + 1);
                    long to = rnd.nextInt(20) == 0 ? accounts + 1_000 : rnd.nextLong(1, accounts + 1);
                    boolean failInPeer = rnd.nextInt(5) == 0;
                    return (fromA ? a : b).transfer(id, from, to, amount, failInPeer);
                }));
            }
            List<TransferResult> results = new ArrayList<>();
            for (Future<TransferResult> f : futures) {
                results.add(f.get());
            }
            return results;
        } finally {
            pool.shutdown();
        }
    }

    /** The error without the numbers that make each one unique (accounts, amounts, XIDs). */
    private static String shortReason(String error) {
        String r = error.replaceAll("[0-9.:]{4,}", "N").replaceAll("account [0-9]+", "account N");
        return r.length() > 110 ? r.substring(0, 110) + "..." : r;
    }

    private boolean settle() {
        return tc.awaitSettled(Duration.ofSeconds(60));
    }

    private boolean awaitNoUndoLogs(Duration timeout) throws SQLException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long left = undoLogs(databases.bankDatabase("a")) + undoLogs(databases.bankDatabase("b"));
            if (left == 0) {
                return true;
            }
            if (System.nanoTime() > deadline) {
                out.println("   undo logs left: " + left);
                return false;
            }
            ChildProcess.sleep(200);
        }
    }

    private long undoLogs(String database) throws SQLException {
        try (Connection c = databases.connect(database); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("select count(*) from undo_log where log_status = 0")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private boolean check(String what, boolean holds) {
        out.println((holds ? "   ok    " : "   FAIL  ") + what);
        return holds;
    }

    private void show(TransferResult r) {
        out.printf("   -> %s%s%n", r.status(), r.error() != null ? " (" + r.error() + ")" : "");
    }

    private void printAccount(long idA, long idB) {
        out.printf("   A#%d = %s, B#%d = %s%n", idA, money(balance(a, idA)), idB, money(balance(b, idB)));
    }

    private static long balance(BankClient bank, long id) {
        return bank.accounts().stream().filter(x -> x.id() == id).findFirst().orElseThrow().balance();
    }

    private void printBalances() {
        for (BankClient bank : List.of(a, b)) {
            StringBuilder line = new StringBuilder("   bank " + bank.name() + ":");
            for (BankClient.AccountView v : bank.accounts()) {
                line.append(' ').append('#').append(v.id()).append('=').append(money(v.balance()));
            }
            out.println(line);
        }
        out.printf("   total: A %s + B %s = %s%n", money(a.total().total()), money(b.total().total()),
                money(a.total().total() + b.total().total()));
    }

    static String money(long cents) {
        return String.format(Locale.ROOT, "%s%d.%02d", cents < 0 ? "-" : "", Math.abs(cents) / 100, Math.abs(cents) % 100);
    }
}
