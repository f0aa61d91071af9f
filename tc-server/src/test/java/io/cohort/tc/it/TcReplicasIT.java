package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Real TC processes as replicas on one PostgreSQL database, with leases: each transaction is
 * driven by one replica at a time, a killed replica's transactions are finished by a survivor
 * once its leases ran out, and skewed replica clocks change nothing (lease times and timeouts are
 * the database's).
 * Every replica has its own test RM (same resource), so the commands each RM got tell which
 * replica drove what; ownership is read from {@code cohort_global_tx.owner}.
 */
class TcReplicasIT {

    private static final String R = "jdbc:postgresql://replicas/db";
    /** Lease of the tests that kill a replica: what the survivor waits for. */
    private static final Duration LEASE = Duration.ofSeconds(5);
    /** Lease of the tests where no replica dies: long, so a replica starved by a loaded machine keeps it. */
    private static final Duration LONG_LEASE = Duration.ofSeconds(20);
    private static final Duration RENEW = Duration.ofMillis(500);
    /** TcProcess's recovery interval. */
    private static final Duration RECOVERY_INTERVAL = Duration.ofMillis(200);
    /** How late a recovery pass (and this test's poll of the table) may run on a loaded machine. */
    private static final Duration SCHEDULING_SLACK = Duration.ofSeconds(5);
    private static final Duration AWAIT = Duration.ofSeconds(60);

    private final List<AutoCloseable> resources = new ArrayList<>();
    private String url;
    private HikariDataSource db;

    @BeforeEach
    void database() {
        url = TestPostgres.get().createDatabase("tc_replicas");
    }

    @AfterEach
    void closeEverything() throws Exception {
        for (int i = resources.size() - 1; i >= 0; i--) {
            resources.get(i).close();
        }
        if (db != null) {
            db.close();
        }
    }

    private <T extends AutoCloseable> T closing(T resource) {
        resources.add(resource);
        return resource;
    }

    /** Replicas "replica-a" and "replica-b" with the given extra settings each, started side by side. */
    private List<TcProcess> replicas(Duration lease, List<String> extraA, List<String> extraB) {
        List<CompletableFuture<TcProcess>> starting = new ArrayList<>();
        for (String id : List.of("replica-a", "replica-b")) {
            List<String> args = new ArrayList<>(List.of("--cohort.tc.store.postgres.replica-id=" + id,
                    "--cohort.tc.store.postgres.lease-time=" + lease.toMillis() + "ms",
                    "--cohort.tc.store.postgres.renew-interval=" + RENEW.toMillis() + "ms"));
            args.addAll(id.equals("replica-a") ? extraA : extraB);
            TcProcess tc = closing(TcProcess.postgresOn(url, args.toArray(String[]::new)));
            starting.add(CompletableFuture.supplyAsync(tc::start));
        }
        return starting.stream().map(CompletableFuture::join).toList();
    }

    private List<TcProcess> replicas(Duration lease) {
        return replicas(lease, List.of(), List.of());
    }

    private TcClient client(TcProcess tc) {
        // A long call timeout: a just-started TC on a loaded machine answers its first calls slowly.
        return closing(new TcClient(new TcClientConfig(tc.grpcAddress(), "replicas-tm", "", Duration.ofSeconds(30), 3,
                Duration.ofMillis(100))));
    }

    private static String begin(TcClient client, Duration timeout) {
        return client.begin("transfer", timeout, TransactionProtocol.TWO_PHASE);
    }

    private static void register(TcClient client, String xid, String resource, String key, String rmId) {
        RegisterBranchResponse r = client.registerBranch(xid, resource, List.of(key), new byte[0], rmId);
        assertThat(r.hasBranchId()).as("registered, not %s", r).isTrue();
    }

    /**
     * Both replicas see every transaction (one table) and drive on 200 ms recovery passes while the
     * RMs take 600 ms per command; before leases the replica that did not decide a transaction drove
     * it too. Half the decisions are sent to the replica that did not begin the transaction.
     */
    @Test
    void twoLiveReplicasNeverDriveTheSameTransaction() {
        List<TcProcess> ab = replicas(LONG_LEASE);
        TcProcess a = ab.get(0);
        TcProcess b = ab.get(1);
        TestRm rmA = closing(new TestRm(a.grpcAddress(), "rm-a", List.of(R)));
        TestRm rmB = closing(new TestRm(b.grpcAddress(), "rm-b", List.of(R)));
        Function<BranchCommand, BranchStatusCode> slow = c -> {
            TestRm.sleep(3 * RECOVERY_INTERVAL.toMillis());
            return TestRm.success(c);
        };
        rmA.answer = slow;
        rmB.answer = slow;
        TcClient viaA = client(a);
        TcClient viaB = client(b);

        Map<String, GlobalStatusCode> expected = new HashMap<>();
        for (int i = 0; i < 8; i++) {
            TcClient beginner = i % 2 == 0 ? viaA : viaB;
            TcClient decider = i % 4 < 2 ? beginner : (beginner == viaA ? viaB : viaA);
            String xid = begin(beginner, Duration.ofSeconds(60));
            register(beginner, xid, R, "account:" + i, "rm-a");
            register(beginner, xid, R, "account:" + (100 + i), "rm-b");
            if (i % 3 == 2) {
                decider.rollback(xid);
                expected.put(xid, GlobalStatusCode.GLOBAL_ROLLBACKED);
            } else {
                decider.commit(xid);
                expected.put(xid, GlobalStatusCode.GLOBAL_COMMITTED);
            }
        }
        expected.forEach((xid, status) -> await(() -> viaA.status(xid).getStatus() == status,
                () -> xid + " to reach " + status + " (is " + viaA.status(xid).getStatus() + ")"));

        Map<String, List<String>> commandsPerBranch = Stream.concat(
                rmA.received.stream().map(c -> Map.entry(c.getXid() + "/" + c.getBranchId(), "replica-a " + c.getAction())),
                rmB.received.stream().map(c -> Map.entry(c.getXid() + "/" + c.getBranchId(), "replica-b " + c.getAction())))
                .collect(Collectors.groupingBy(Map.Entry::getKey, Collectors.mapping(Map.Entry::getValue,
                        Collectors.toList())));
        assertThat(commandsPerBranch).as("branches that got phase-2 commands").hasSize(2 * expected.size());
        commandsPerBranch.forEach((branch, commands) ->
                assertThat(commands).as("phase-2 commands for branch %s", branch).hasSize(1));
        assertThat(rmA.received).as("replica a drove some").isNotEmpty();
        assertThat(rmB.received).as("replica b drove some").isNotEmpty();
    }

    /**
     * A replica killed with SIGKILL while it drives five commits (its RM fails them, retryably): the
     * survivor takes them over only after the lease ran out, within lease + one recovery interval
     * (+ scheduling slack), and commits them.
     */
    @Test
    void aKilledReplicasTransactionsAreFinishedByTheSurvivorOnceItsLeasesRunOut() throws Exception {
        List<TcProcess> ab = replicas(LEASE);
        TcProcess a = ab.get(0);
        TcProcess b = ab.get(1);
        TestRm rmA = closing(new TestRm(a.grpcAddress(), "rm-a", List.of(R)));
        rmA.answer = c -> BranchStatusCode.BRANCH_PHASE2_COMMIT_FAILED_RETRYABLE; // a keeps retrying
        TestRm rmB = closing(new TestRm(b.grpcAddress(), "rm-b", List.of(R)));
        TcClient viaA = client(a);
        TcClient viaB = client(b);

        List<String> xids = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            String xid = begin(viaA, Duration.ofSeconds(60));
            register(viaA, xid, R, "account:" + i, "rm-a");
            viaA.commit(xid);
            xids.add(xid);
        }
        await(() -> xids.stream().allMatch(x -> !rmA.receivedFor(x).isEmpty()), () -> "replica a to drive every commit");
        assertThat(owners(xids)).as("owners before the kill").containsOnly("replica-a");
        assertThat(rmB.received).as("replica b leaves a's transactions alone").isEmpty();

        long killedAt = System.nanoTime();
        a.kill();
        long leaseEnd = lastLeaseEnd(xids);
        await(() -> owners(xids).stream().allMatch("replica-b"::equals), () -> "replica b to take over " + owners(xids));
        Duration wait = Duration.ofNanos(System.nanoTime() - killedAt);
        System.out.printf("takeover after SIGKILL: %d ms (lease %d ms, recovery interval %d ms)%n", wait.toMillis(),
                LEASE.toMillis(), RECOVERY_INTERVAL.toMillis());
        assertThat(databaseMillis()).as("taken over not before the lease ran out").isGreaterThanOrEqualTo(leaseEnd);
        assertThat(wait).as("within lease + one recovery interval").isLessThanOrEqualTo(
                LEASE.plus(RECOVERY_INTERVAL).plus(SCHEDULING_SLACK));

        for (String xid : xids) {
            await(() -> viaB.status(xid).getStatus() == GlobalStatusCode.GLOBAL_COMMITTED, () -> xid + " committed by b");
            assertThat(rmB.receivedFor(xid)).as("commands of b for %s", xid).hasSize(1);
        }
    }

    /**
     * Replica a's clock is an hour behind, b's an hour ahead. By b's clock a's transactions (60 s
     * timeout) timed out two hours ago, and a's leases ended long ago: b must leave them alone while
     * a lives, because leases are the database's time. Timeouts are the database's time too: a
     * commit of a's transaction sent to b commits, and once a is killed b takes its transactions
     * over after the lease and keeps them running until the TM decides (before timeouts followed the
     * database's clock, b refused the commit as timed out and rolled the others back on takeover).
     */
    @Test
    void replicasWithClocksHoursApartHonourEachOthersLeasesAndTimeouts() throws Exception {
        List<TcProcess> ab = replicas(LEASE, List.of("--cohort.tc.clock-offset=-1h"),
                List.of("--cohort.tc.clock-offset=1h"));
        TcProcess a = ab.get(0);
        TcProcess b = ab.get(1);
        closing(new TestRm(a.grpcAddress(), "rm-a", List.of(R)));
        closing(new TestRm(b.grpcAddress(), "rm-b", List.of(R)));
        TcClient viaA = client(a);
        TcClient viaB = client(b);

        List<String> xids = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String xid = begin(viaA, Duration.ofSeconds(60));
            register(viaA, xid, R, "account:" + i, "rm-a");
            xids.add(xid);
        }
        long until = System.nanoTime() + LEASE.multipliedBy(2).toNanos();
        while (System.nanoTime() < until) {
            for (String xid : xids) {
                assertThat(viaB.status(xid).getStatus()).as("%s while its owner lives", xid)
                        .isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            }
            assertThat(owners(xids)).containsOnly("replica-a");
            TestRm.sleep(RECOVERY_INTERVAL.toMillis());
        }

        viaB.commit(xids.get(0)); // b's clock is two hours past a's begin time, the database's is not
        await(() -> viaA.status(xids.get(0)).getStatus() == GlobalStatusCode.GLOBAL_COMMITTED,
                () -> xids.get(0) + " committed through b");

        List<String> left = xids.subList(1, xids.size());
        a.kill();
        long leaseEnd = lastLeaseEnd(left);
        await(() -> owners(left).stream().allMatch("replica-b"::equals), () -> "b to take over " + owners(left));
        assertThat(databaseMillis()).as("taken over not before the lease ran out").isGreaterThanOrEqualTo(leaseEnd);
        long watch = System.nanoTime() + RECOVERY_INTERVAL.multipliedBy(10).toNanos();
        while (System.nanoTime() < watch) {
            for (String xid : left) {
                assertThat(viaB.status(xid).getStatus()).as("%s on b, 60 s after its begin by the database's clock",
                        xid).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            }
            TestRm.sleep(RECOVERY_INTERVAL.toMillis());
        }
        viaB.commit(left.get(0));
        viaB.rollback(left.get(1));
        await(() -> viaB.status(left.get(0)).getStatus() == GlobalStatusCode.GLOBAL_COMMITTED,
                () -> left.get(0) + " committed by b");
        await(() -> viaB.status(left.get(1)).getStatus() == GlobalStatusCode.GLOBAL_ROLLBACKED,
                () -> left.get(1) + " rolled back by b (not as timed out)");
    }

    /**
     * The only RM of resource R2 is connected to replica b. A transaction begun and decided on a
     * has a branch there: a hands it over (gives up its lease) before sending any command, and b,
     * which reaches both resources, finishes it.
     */
    @Test
    void aTransactionWhoseRmIsConnectedOnlyToAnotherReplicaIsFinishedByThatReplica() {
        String r2 = R + "2";
        List<TcProcess> ab = replicas(LONG_LEASE);
        TcProcess a = ab.get(0);
        TcProcess b = ab.get(1);
        TestRm rmA = closing(new TestRm(a.grpcAddress(), "rm-a", List.of(R)));
        TestRm rmB = closing(new TestRm(b.grpcAddress(), "rm-b", List.of(R)));
        TestRm onlyOnB = closing(new TestRm(b.grpcAddress(), "rm-only-b", List.of(r2)));
        TcClient viaA = client(a);
        TcClient viaB = client(b);

        String xid = begin(viaA, Duration.ofSeconds(60));
        register(viaA, xid, R, "account:1", "rm-a");
        register(viaB, xid, r2, "account:2", "rm-only-b"); // a refuses it: no RM announced R2 there
        viaA.commit(xid);

        await(() -> viaA.status(xid).getStatus() == GlobalStatusCode.GLOBAL_COMMITTED,
                () -> xid + " committed (is " + viaA.status(xid).getStatus() + ", owner " + owners(List.of(xid)) + ")");
        assertThat(onlyOnB.receivedFor(xid)).hasSize(1);
        assertThat(rmB.receivedFor(xid)).hasSize(1);
        assertThat(rmA.receivedFor(xid)).as("b drove every branch, a none").isEmpty();
    }

    /**
     * When the last of the leases on {@code xids} runs out, in epoch ms by the database's clock. Read
     * after the kill: the time since the kill says nothing about it, as the dead replica's last renewal
     * may have been late on a loaded machine.
     */
    private long lastLeaseEnd(List<String> xids) {
        return databaseLong("SELECT floor(extract(epoch FROM max(lease_until)) * 1000)::bigint FROM cohort_global_tx"
                + " WHERE xid = ANY (?)", xids);
    }

    /** The database's clock now (not its transaction's start, which {@code now()} would be), in epoch ms. */
    private long databaseMillis() {
        return databaseLong("SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint", null);
    }

    private long databaseLong(String sql, List<String> xids) {
        if (db == null) {
            db = TestPostgres.get().dataSource(url, 1);
        }
        try (Connection c = db.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            if (xids != null) {
                ps.setArray(1, c.createArrayOf("text", xids.toArray()));
            }
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private List<String> owners(List<String> xids) {
        if (db == null) {
            db = TestPostgres.get().dataSource(url, 1);
        }
        try (Connection c = db.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT owner FROM cohort_global_tx WHERE xid = ANY (?)")) {
            ps.setArray(1, c.createArrayOf("text", xids.toArray()));
            List<String> owners = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    owners.add(rs.getString(1));
                }
            }
            return owners;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void await(BooleanSupplier condition, Supplier<String> what) {
        long deadline = System.nanoTime() + AWAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Timed out waiting for " + what.get());
            }
            TestRm.sleep(20);
        }
    }

}
