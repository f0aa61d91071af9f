package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.BranchCommandHandler;
import io.cohort.client.RmConnection;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * High availability under load, with real processes: three TC replicas ({@link TcProcess}) on one
 * PostgreSQL store database, two RMs on two PostgreSQL databases (bank A and bank B), and TM threads
 * moving money between the banks through clients that know all three replicas. Every ~10 s (as
 * long as two replicas are up) one replica is killed with SIGKILL and, once a survivor has
 * finished its decided transactions, started again (but the last one). Half the kills hit the replica driving the most transactions in phase 2 (the RMs
 * answer phase-2 commands slowly around the kill, so commands are in flight when it dies), the
 * other half the replica holding the most leases.
 *
 * <p>Every transfer writes a ledger row next to each balance change, in the same local transaction,
 * so afterwards each transfer can be checked on its own: applied once in both banks or in neither,
 * as its client was told, with balances that are exactly the initial ones plus the ledger.
 */
class HaFailoverIT {

    private static final String BANK_A = "ha-bank-a";
    private static final String BANK_B = "ha-bank-b";
    private static final int ACCOUNTS = 10;
    private static final long INITIAL = 1_000;
    private static final int REPLICAS = 3;
    private static final int TM_THREADS = 6;
    private static final int ROUNDS = 4;
    private static final Duration KILL_EVERY = Duration.ofSeconds(10);

    private static final Duration LEASE = Duration.ofSeconds(4);
    private static final Duration RENEW = Duration.ofMillis(500);
    /** TcProcess's recovery interval. */
    private static final Duration RECOVERY_INTERVAL = Duration.ofMillis(200);
    /** How long an RM sits on a batch of phase-2 commands around a kill. */
    private static final Duration SLOW_PHASE2 = Duration.ofMillis(1_500);
    /** TcProcess's longest wait between two attempts of a phase-2 command. */
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(1);
    /** How late a recovery pass, a command and this test's polling may run on a loaded machine. */
    private static final Duration SCHEDULING_SLACK = Duration.ofSeconds(5);
    /** The longest a killed replica's transaction may stay its: the lease runs out, the next recovery pass claims it. */
    private static final Duration TAKEOVER_BOUND = LEASE.plus(RECOVERY_INTERVAL).plus(SCHEDULING_SLACK);
    /**
     * The longest a killed replica's decided transaction may wait for a survivor to finish it: the
     * takeover, then phase 2, which may queue behind one slow batch and wait out one retry backoff.
     */
    private static final Duration FINISH_BOUND = TAKEOVER_BOUND.plus(SLOW_PHASE2).plus(MAX_BACKOFF);
    private static final Duration TX_TIMEOUT = Duration.ofSeconds(20);
    /** Until every transaction ended: an orphan (its begin answer lost in a kill) times out first. */
    private static final Duration DRAIN = TX_TIMEOUT.plus(FINISH_BOUND).plus(SCHEDULING_SLACK);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
    /**
     * How long to wait for a victim that holds transactions (decided ones, for a mid-phase-2 kill): a
     * transfer's calls may each take up to CALL_TIMEOUT on a loaded machine, and phase 2 is slowed
     * meanwhile so that a decided transaction lingers; 30 s was seen to run out at a load average of 20-30.
     */
    private static final Duration VICTIM_WAIT = CALL_TIMEOUT.multipliedBy(12);
    /**
     * A replica is killed only once it has been up this long: the RMs' streams reopen within 5 s
     * (their longest backoff), and a replica without them hands its transactions over, which would
     * blur what a kill shows.
     */
    private static final Duration STREAMS_BACK = Duration.ofSeconds(5).plus(SCHEDULING_SLACK);

    private static final String DECIDED_UNENDED = codes(s -> !s.isEnded() && (s.phase() == GlobalStatus.Phase.COMMITTING
            || s.phase() == GlobalStatus.Phase.ROLLING_BACK));
    private static final String UNENDED = codes(s -> !s.isEnded());
    private static final String NOT_FINAL = codes(s -> !s.isFinal());

    private final List<AutoCloseable> resources = new ArrayList<>();
    private final List<Replica> replicas = new ArrayList<>();
    private final AtomicBoolean slowPhase2 = new AtomicBoolean();
    private final List<Transfer> transfers = Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger beginFailures = new AtomicInteger();
    private HikariDataSource store;
    private Bank bankA;
    private Bank bankB;
    private String addresses;

    private enum Outcome { COMMITTED, ROLLED_BACK, UNKNOWN }

    /** One transfer as its TM thread saw it; the outcome is what the TC told the client. */
    private static final class Transfer {
        final String id;
        final boolean aToB;
        final long from;
        final long to;
        final long amount;
        volatile String xid;
        volatile Outcome outcome;

        Transfer(String id, boolean aToB, long from, long to, long amount) {
            this.id = id;
            this.aToB = aToB;
            this.from = from;
            this.to = to;
            this.amount = amount;
        }
    }

    private static final class Replica {
        final String id;
        final TcProcess process;
        volatile boolean up;
        volatile long upSince;
        volatile CompletableFuture<Void> restart = CompletableFuture.completedFuture(null);

        Replica(String id, TcProcess process) {
            this.id = id;
            this.process = process;
        }
    }

    /** A bank: its database, its RM (through which the TM threads write) and that RM's command streams. */
    private record Bank(String resource, HikariDataSource raw, ResourceManager rm, DataSource ds, RmConnection streams) {
    }

    /** A transaction a replica held at its kill, and what became of it. */
    private record Held(String xid, GlobalStatus statusAtKill, Timestamp leaseUntilAtKill) {
    }

    private record Finished(String xid, GlobalStatus status, String owner, Timestamp updatedAt) {
    }

    private record Kill(int round, String kind, String victim, List<Held> held, Map<String, Long> waitsMs,
                        Map<String, Long> takeoverMs, Map<String, Finished> finished) {

        List<Held> decided() {
            return held.stream().filter(h -> h.statusAtKill != GlobalStatus.BEGIN).toList();
        }
    }

    @AfterEach
    void closeEverything() throws Exception {
        for (Replica r : replicas) {
            try {
                r.restart.get(5, TimeUnit.MINUTES);
            } catch (Exception e) {
                // reported by the test itself; here only nothing may be left running
            }
        }
        for (int i = resources.size() - 1; i >= 0; i--) {
            resources.get(i).close();
        }
    }

    private <T extends AutoCloseable> T closing(T resource) {
        resources.add(resource);
        return resource;
    }

    @Test
    void transfersStayExactlyOnceWhileReplicasAreKilledEveryTenSeconds() throws Exception {
        long testStart = System.nanoTime();
        String storeUrl = TestPostgres.get().createDatabase("ha_tc");
        startReplicas(storeUrl);
        store = closing(TestPostgres.get().dataSource(storeUrl, 2));
        addresses = replicas.stream().map(r -> r.process.grpcAddress()).collect(Collectors.joining(","));
        bankA = bank(BANK_A, "ha_bank_a");
        bankB = bank(BANK_B, "ha_bank_b");
        await(() -> bankA.streams.connectedReplicas() == REPLICAS && bankB.streams.connectedReplicas() == REPLICAS,
                Duration.ofSeconds(60), () -> "both RMs to reach all " + REPLICAS + " replicas");

        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService tms = Executors.newFixedThreadPool(TM_THREADS);
        List<Future<?>> workers = new ArrayList<>();
        for (int t = 0; t < TM_THREADS; t++) {
            int worker = t;
            workers.add(tms.submit(() -> {
                transfers(worker, stop);
                return null;
            }));
        }
        ExecutorService restarts = Executors.newCachedThreadPool();
        List<Kill> kills = new ArrayList<>();
        try {
            await(() -> committed() >= 2 * TM_THREADS, Duration.ofSeconds(60), () -> "transfers to flow before the first kill");
            long nextKill = System.nanoTime();
            for (int round = 0; round < ROUNDS; round++) {
                long at = nextKill;
                await(() -> System.nanoTime() >= at && upCount() >= 2 && !killable().isEmpty(), Duration.ofMinutes(3),
                        () -> "two replicas up for the next kill (up: " + upCount() + ")");
                nextKill = System.nanoTime() + KILL_EVERY.toNanos();
                Kill kill = killOne(round, round % 2 == 0);
                kills.add(kill);
                if (round < ROUNDS - 1) { // the last victim stays down: the survivors finish the run
                    Replica victim = replicas.stream().filter(r -> r.id.equals(kill.victim)).findFirst().orElseThrow();
                    victim.restart = CompletableFuture.runAsync(() -> {
                        victim.process.start();
                        victim.upSince = System.nanoTime();
                        victim.up = true;
                    }, restarts);
                }
            }
            long before = committed();
            await(() -> committed() >= before + TM_THREADS, Duration.ofSeconds(60),
                    () -> "transfers to commit after the last kill");
        } finally {
            stop.set(true);
            for (Future<?> w : workers) {
                w.get(5, TimeUnit.MINUTES);
            }
            tms.shutdown();
        }
        for (Replica r : replicas) {
            r.restart.get(5, TimeUnit.MINUTES);
        }
        restarts.shutdown();
        slowPhase2.set(false);

        await(() -> count(store, "SELECT count(*) FROM cohort_global_tx WHERE status IN (" + NOT_FINAL + ")") == 0,
                DRAIN, () -> "every global transaction to finish: " + rows(store,
                        "SELECT xid, status, owner, reason FROM cohort_global_tx WHERE status IN (" + NOT_FINAL + ")"));
        bankA.rm.flushUndoDeletes();
        bankB.rm.flushUndoDeletes();

        report(kills, testStart);
        assertMoney();
        assertEveryTransferExactlyOnceAsToldInBothBanks();
        assertNothingLeft();
        assertTakeovers(kills);
    }

    // ---- the replicas and the kills ----

    private void startReplicas(String storeUrl) {
        List<CompletableFuture<Void>> starting = new ArrayList<>();
        for (int i = 1; i <= REPLICAS; i++) {
            String id = "ha-replica-" + i;
            Replica r = new Replica(id, TcProcess.postgresOn(storeUrl, "--cohort.tc.store.postgres.replica-id=" + id,
                    "--cohort.tc.store.postgres.lease-time=" + LEASE.toMillis() + "ms",
                    "--cohort.tc.store.postgres.renew-interval=" + RENEW.toMillis() + "ms"));
            replicas.add(r);
            closing(r.process);
            starting.add(CompletableFuture.runAsync(() -> {
                r.process.start();
                r.upSince = System.nanoTime();
                r.up = true;
            }));
        }
        starting.forEach(CompletableFuture::join);
    }

    private long upCount() {
        return replicas.stream().filter(r -> r.up).count();
    }

    /** Replicas up long enough for the RMs' streams to have reached them. */
    private Set<String> killable() {
        long now = System.nanoTime();
        return replicas.stream().filter(r -> r.up && now - r.upSince >= STREAMS_BACK.toNanos()).map(r -> r.id)
                .collect(Collectors.toSet());
    }

    /**
     * Slows phase 2 at both RMs, picks the victim among the replicas up (the one driving the most
     * decided transactions, or the one holding the most leases), notes what it holds, kills it, and
     * waits until every decided transaction it held is finished, noting how long each took.
     */
    private Kill killOne(int round, boolean midPhase2) throws SQLException {
        slowPhase2.set(true);
        String statuses = midPhase2 ? DECIDED_UNENDED : UNENDED;
        String[] victimId = new String[1];
        List<List<Held>> snapshot = new ArrayList<>(List.of(List.of()));
        // The killable replicas are looked at anew each time: a replica restarted in the last round may become
        // killable, and on a loaded machine the one that was killable at first may hold no decided transaction
        // for a long while (decisions go to whichever replica the TM reaches).
        await(() -> {
            victimId[0] = mostHeld(statuses, killable());
            if (victimId[0] == null) {
                return false;
            }
            snapshot.set(0, held(victimId[0]));
            return !midPhase2 || snapshot.get(0).stream().anyMatch(h -> h.statusAtKill != GlobalStatus.BEGIN);
        }, VICTIM_WAIT, () -> "a replica holding transactions " + (midPhase2 ? "in phase 2" : "at all"));
        Replica victim = replicas.stream().filter(r -> r.id.equals(victimId[0])).findFirst().orElseThrow();
        List<Held> held = snapshot.get(0);
        victim.up = false;
        long killedAt = System.nanoTime(); // the SIGKILL; kill() returns once the process is reaped
        victim.process.kill();
        slowPhase2.set(false);

        Map<String, Long> waits = new LinkedHashMap<>();
        Map<String, Long> takeovers = new HashMap<>();
        Map<String, Finished> finished = new HashMap<>();
        List<String> decided = held.stream().filter(h -> h.statusAtKill != GlobalStatus.BEGIN).map(Held::xid).toList();
        await(() -> {
            for (Finished f : finished(decided)) {
                if (f.owner != null && !f.owner.equals(victim.id) && !takeovers.containsKey(f.xid)) {
                    takeovers.put(f.xid, Duration.ofNanos(System.nanoTime() - killedAt).toMillis());
                }
                if (f.status.isEnded() && !waits.containsKey(f.xid)) {
                    waits.put(f.xid, Duration.ofNanos(System.nanoTime() - killedAt).toMillis());
                    finished.put(f.xid, f);
                }
            }
            return waits.size() == decided.size();
        }, FINISH_BOUND.multipliedBy(3), () -> "a survivor to finish what " + victim.id + " drove: "
                + finished(decided).stream().filter(f -> !f.status.isEnded()).toList());
        return new Kill(round, midPhase2 ? "mid-phase-2" : "most-leases", victim.id, held, waits, takeovers, finished);
    }

    private String mostHeld(String statuses, Set<String> among) {
        String sql = "SELECT owner, count(*) FROM cohort_global_tx WHERE status IN (" + statuses
                + ") AND owner IS NOT NULL GROUP BY owner ORDER BY count(*) DESC";
        try (Connection c = store.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                if (among.contains(rs.getString(1))) {
                    return rs.getString(1);
                }
            }
            return null;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private List<Held> held(String owner) {
        try (Connection c = store.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT xid, status, lease_until FROM cohort_global_tx WHERE owner = ? AND status IN (" + UNENDED + ")")) {
            ps.setString(1, owner);
            List<Held> held = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    held.add(new Held(rs.getString(1), GlobalStatus.ofCode(rs.getShort(2)), rs.getTimestamp(3)));
                }
            }
            return held;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private List<Finished> finished(List<String> xids) {
        try (Connection c = store.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT xid, status, owner, updated_at FROM cohort_global_tx WHERE xid = ANY (?)")) {
            ps.setArray(1, c.createArrayOf("text", xids.toArray()));
            List<Finished> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(new Finished(rs.getString(1), GlobalStatus.ofCode(rs.getShort(2)), rs.getString(3),
                            rs.getTimestamp(4)));
                }
            }
            return out;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- the banks and the transfers ----

    private Bank bank(String resource, String dbPrefix) throws Exception {
        String url = PgFixture.createDatabase(dbPrefix);
        HikariDataSource raw = closing(TestPostgres.get().dataSource(url, TM_THREADS + 4));
        PgFixture.applyUndoLogDdl(raw);
        PgFixture.exec(raw, "CREATE TABLE account (id bigint PRIMARY KEY, balance bigint NOT NULL);"
                + " CREATE TABLE ledger (transfer_id text PRIMARY KEY, account_id bigint NOT NULL, delta bigint NOT NULL);"
                + " INSERT INTO account SELECT g, " + INITIAL + " FROM generate_series(1, " + ACCOUNTS + ") g");
        TcClient registrations = closing(new TcClient(tcConfig("ha-rm-" + resource)));
        ResourceManager rm = closing(ResourceManager.builder(BranchCoordinator.of(registrations))
                .config(RmConfig.defaults().withLockRetry(Duration.ofMillis(20), 25)).build());
        DataSource ds = rm.wrap(raw, resource);
        // The RM's own handler, slowed on demand, so a kill can land while phase-2 commands are in flight.
        BranchCommandHandler handler = commands -> {
            if (slowPhase2.get()) {
                TcHarness.sleep(SLOW_PHASE2.toMillis());
            }
            return RmInternals.handle(rm, commands);
        };
        RmConnection streams = closing(new RmConnection(tcConfig("ha-rm-" + resource), rm.clientId(), List.of(resource),
                handler, 2));
        return new Bank(resource, raw, rm, ds, streams);
    }

    private TcClientConfig tcConfig(String applicationId) {
        return new TcClientConfig(addresses, applicationId, "", CALL_TIMEOUT, 4, Duration.ofMillis(100));
    }

    private long committed() {
        synchronized (transfers) {
            return transfers.stream().filter(t -> t.outcome == Outcome.COMMITTED).count();
        }
    }

    private void transfers(int worker, AtomicBoolean stop) {
        try (TcClient tm = new TcClient(tcConfig("ha-tm"))) {
            ThreadLocalRandom random = ThreadLocalRandom.current();
            for (int n = 0; !stop.get(); n++) {
                Transfer t = new Transfer("w" + worker + "-" + n, random.nextBoolean(), random.nextLong(1, ACCOUNTS + 1),
                        random.nextLong(1, ACCOUNTS + 1), random.nextLong(1, 300));
                try {
                    t.xid = tm.begin("ha-transfer", TX_TIMEOUT, null);
                } catch (TcException e) {
                    beginFailures.incrementAndGet(); // no XID: nothing was written under it
                    TcHarness.sleep(50);
                    continue;
                }
                transfers.add(t);
                boolean phase1 = false;
                try {
                    Bank debit = t.aToB ? bankA : bankB;
                    Bank credit = t.aToB ? bankB : bankA;
                    local(debit.ds, t.xid, "UPDATE account SET balance = balance - " + t.amount + " WHERE id = " + t.from
                            + " AND balance >= " + t.amount, ledger(t, t.from, -t.amount));
                    local(credit.ds, t.xid, "UPDATE account SET balance = balance + " + t.amount + " WHERE id = " + t.to,
                            ledger(t, t.to, t.amount));
                    phase1 = true;
                } catch (SQLException | RuntimeException e) {
                    // a global lock not granted in time, no money, a replica gone: this transfer rolls back
                }
                boolean abort = random.nextInt(10) == 0;
                t.outcome = finish(tm, t.xid, phase1 && !abort);
            }
        }
    }

    private static String ledger(Transfer t, long account, long delta) {
        return "INSERT INTO ledger (transfer_id, account_id, delta) VALUES ('" + t.id + "', " + account + ", " + delta + ")";
    }

    /** What the client is told: a decided status, or an error that leaves the outcome unknown. */
    private static Outcome finish(TcClient tm, String xid, boolean commit) {
        if (!commit) {
            try {
                tm.rollback(xid);
            } catch (TcException e) {
                // not answered: it still cannot commit, nobody asks for that; it rolls back on its timeout
            }
            return Outcome.ROLLED_BACK;
        }
        try {
            GlobalStatus status = GlobalStatus.fromWire(tm.commit(xid).getStatus());
            return status.isCommitDecided() ? Outcome.COMMITTED
                    : status.isRollbackDecided() ? Outcome.ROLLED_BACK : Outcome.UNKNOWN;
        } catch (TcException e) {
            return e.errorCode() == ErrorCode.GLOBAL_TIMED_OUT ? Outcome.ROLLED_BACK : Outcome.UNKNOWN;
        }
    }

    private static void local(DataSource ds, String xid, String... statements) throws SQLException {
        GlobalWork.inTransaction(ds, xid, c -> {
            try (Statement s = c.createStatement()) {
                for (String sql : statements) {
                    if (s.executeUpdate(sql) != 1) {
                        throw new SQLException("No row changed by " + sql);
                    }
                }
            }
        });
    }

    // ---- afterwards ----

    private void assertMoney() throws SQLException {
        long total = count(bankA.raw, "SELECT sum(balance) FROM account") + count(bankB.raw, "SELECT sum(balance) FROM account");
        assertThat(total).as("money in both banks").isEqualTo(2 * ACCOUNTS * INITIAL);
        assertThat(count(bankA.raw, "SELECT min(balance) FROM account")).as("lowest balance in bank A").isNotNegative();
        assertThat(count(bankB.raw, "SELECT min(balance) FROM account")).as("lowest balance in bank B").isNotNegative();
        for (Bank bank : List.of(bankA, bankB)) {
            assertThat(count(bank.raw, "SELECT count(*) FROM account a WHERE a.balance <> " + INITIAL
                    + " + coalesce((SELECT sum(l.delta) FROM ledger l WHERE l.account_id = a.id), 0)"))
                    .as("accounts of %s whose balance is not the initial one plus its ledger (a change lost or doubled)",
                            bank.resource).isZero();
        }
    }

    private void assertEveryTransferExactlyOnceAsToldInBothBanks() throws SQLException {
        Map<String, Long> inA = ledger(bankA);
        Map<String, Long> inB = ledger(bankB);
        Map<String, GlobalStatus> finalStatus = new HashMap<>();
        for (Finished f : finished(transfers.stream().map(t -> t.xid).toList())) {
            finalStatus.put(f.xid, f.status);
        }
        Set<String> known = transfers.stream().map(t -> t.id).collect(Collectors.toSet());
        assertThat(known).as("ledger rows of transfers nobody made").containsAll(inA.keySet()).containsAll(inB.keySet());
        List<String> wrong = new ArrayList<>();
        for (Transfer t : transfers) {
            boolean a = inA.containsKey(t.id);
            boolean b = inB.containsKey(t.id);
            long debit = t.aToB ? inA.getOrDefault(t.id, 0L) : inB.getOrDefault(t.id, 0L);
            GlobalStatus status = finalStatus.get(t.xid);
            String what = t.id + " (" + t.xid + ", told " + t.outcome + ", TC " + status + ", bank A " + a + ", bank B "
                    + b + ")";
            if (a != b) {
                wrong.add(what + ": in one bank only");
            } else if (t.outcome == Outcome.COMMITTED && !a) {
                wrong.add(what + ": told committed, not applied");
            } else if (t.outcome == Outcome.ROLLED_BACK && a) {
                wrong.add(what + ": told rolled back, applied");
            } else if (a != (status == GlobalStatus.COMMITTED)) {
                wrong.add(what + ": applied or not against the TC's outcome");
            } else if (a && debit != -t.amount) {
                wrong.add(what + ": debit " + debit + " instead of -" + t.amount);
            }
        }
        assertThat(wrong).as("transfers not applied exactly once in both banks, as told").isEmpty();
        assertThat(committed()).as("committed transfers (the test must move money)").isGreaterThanOrEqualTo(4L * TM_THREADS);
    }

    private static Map<String, Long> ledger(Bank bank) throws SQLException {
        Map<String, Long> out = new HashMap<>();
        try (Connection c = bank.raw.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT transfer_id, delta FROM ledger")) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getLong(2));
            }
        }
        return out;
    }

    private void assertNothingLeft() throws SQLException {
        for (Bank bank : List.of(bankA, bankB)) {
            // log_status 1 rows are markers of empty rollbacks, kept on purpose (see sql/rm/postgresql.sql)
            assertThat(count(bank.raw, "SELECT count(*) FROM undo_log WHERE log_status <> 1"))
                    .as("undo logs left in %s", bank.resource).isZero();
        }
        assertThat(count(store, "SELECT count(*) FROM cohort_row_lock")).as("global locks left").isZero();
        assertThat(count(store, "SELECT count(*) FROM cohort_global_tx WHERE status IN (" + NOT_FINAL + ")"))
                .as("unfinished global transactions").isZero();
    }

    /**
     * Every decided transaction of a killed replica was finished within the bound; one a survivor
     * finished was not touched before the victim's lease on it ran out (the victim may have finished
     * some itself between the snapshot and the kill).
     */
    private void assertTakeovers(List<Kill> kills) {
        assertThat(kills).hasSize(ROUNDS);
        long takenOver = 0;
        for (Kill kill : kills) {
            if (kill.kind.equals("mid-phase-2")) {
                assertThat(kill.decided()).as("round %d: the victim was in phase 2", kill.round).isNotEmpty();
            }
            for (Held h : kill.decided()) {
                Finished f = kill.finished.get(h.xid);
                assertThat(Duration.ofMillis(kill.waitsMs.get(h.xid))).as("round %d: %s waited", kill.round, h.xid)
                        .isLessThanOrEqualTo(FINISH_BOUND);
                if (!kill.victim.equals(f.owner)) {
                    takenOver++;
                    assertThat(kill.takeoverMs).as("round %d: the takeover of %s was seen", kill.round, h.xid)
                            .containsKey(h.xid);
                    assertThat(Duration.ofMillis(kill.takeoverMs.get(h.xid))).as("round %d: %s taken over after",
                            kill.round, h.xid).isLessThanOrEqualTo(TAKEOVER_BOUND);
                    assertThat(f.updatedAt).as("round %d: %s finished by %s only after the lease of %s ran out",
                            kill.round, h.xid, f.owner, kill.victim).isAfterOrEqualTo(h.leaseUntilAtKill);
                }
            }
        }
        assertThat(takenOver).as("decided transactions of killed replicas finished by a survivor").isPositive();
    }

    private void report(List<Kill> kills, long testStart) {
        Map<Outcome, Long> outcomes = transfers.stream().filter(t -> t.outcome != null)
                .collect(Collectors.groupingBy(t -> t.outcome, Collectors.counting()));
        System.out.printf("HaFailoverIT: %d transfers %s, %d begins not answered; lease %d ms, recovery interval %d ms,"
                        + " bounds: takeover %d ms, finish %d ms%n", transfers.size(), outcomes, beginFailures.get(),
                LEASE.toMillis(), RECOVERY_INTERVAL.toMillis(), TAKEOVER_BOUND.toMillis(), FINISH_BOUND.toMillis());
        for (Kill kill : kills) {
            List<String> bySurvivors = kill.decided().stream().map(Held::xid)
                    .filter(x -> !kill.victim.equals(kill.finished.get(x).owner)).toList();
            System.out.printf("  round %d (%s): killed %s holding %d leases, %d decided; %d finished by survivors:"
                            + " taken over after %s ms, finished after %s ms (min/median/max)%n", kill.round, kill.kind,
                    kill.victim, kill.held.size(), kill.decided().size(), bySurvivors.size(),
                    spread(bySurvivors, kill.takeoverMs), spread(bySurvivors, kill.waitsMs));
        }
        System.out.printf("  wall time %d s%n", Duration.ofNanos(System.nanoTime() - testStart).toSeconds());
    }

    // ---- helpers ----

    private static String spread(List<String> xids, Map<String, Long> ms) {
        List<Long> sorted = xids.stream().map(ms::get).filter(java.util.Objects::nonNull).sorted().toList();
        return sorted.isEmpty() ? "-" : sorted.get(0) + "/" + sorted.get(sorted.size() / 2) + "/"
                + sorted.get(sorted.size() - 1);
    }

    private static long count(DataSource ds, String sql) {
        try {
            return PgFixture.count(ds, sql);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String rows(DataSource ds, String sql) {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            List<String> out = new ArrayList<>();
            while (rs.next()) {
                List<String> row = new ArrayList<>();
                for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
                    row.add(rs.getString(i));
                }
                out.add(row.toString());
            }
            return out.toString();
        } catch (SQLException e) {
            return e.toString();
        }
    }

    private static String codes(java.util.function.Predicate<GlobalStatus> filter) {
        return Arrays.stream(GlobalStatus.values()).filter(filter).map(s -> Integer.toString(s.code()))
                .collect(Collectors.joining(", "));
    }

    private static void await(BooleanSupplier condition, Duration max, Supplier<String> what) {
        TcHarness.await(condition::getAsBoolean, max, what);
    }
}
