package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.store.RegisterResult;
import io.cohort.testsupport.TestPostgres;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Leases between replicas of the PostgreSQL store: stores on one database with their own pools,
 * as TC replicas are. Ownership is read back from the table, by the database's clock.
 */
class PostgresLeasesTest {

    /** Long enough that a renewal 2.7 s late (a loaded machine) keeps its lease; short enough to outlast. */
    private static final Duration LEASE = Duration.ofSeconds(3);
    private static final Duration RENEW = Duration.ofMillis(300);
    private static final Set<String> REACHES_DB1 = Set.of("db1");

    private final AtomicLong ids = new AtomicLong();
    private final List<PostgresTransactionStore> opened = new ArrayList<>();
    private String url;
    private DataSource admin;

    @BeforeEach
    void freshDatabase() {
        url = TestPostgres.get().createDatabase("pg_leases");
        admin = TestPostgres.get().dataSource(url, 1);
    }

    @AfterEach
    void closeReplicas() throws Exception {
        opened.forEach(PostgresTransactionStore::close);
        ((AutoCloseable) admin).close();
    }

    private PostgresTransactionStore replica(String id, Clock clock) {
        PostgresTransactionStore store = PostgresTransactionStore.create(
                new PostgresStoreConfig(url, TestPostgres.get().user(), TestPostgres.get().password(), 4),
                new Leases(id, LEASE, RENEW), clock, new SimpleMeterRegistry(), true);
        opened.add(store);
        return store;
    }

    @Test
    void eachLiveReplicaWorksOnlyOnWhatItBeganAndRenewsItPastTheLeaseTime() throws Exception {
        PostgresTransactionStore a = replica("a", Clock.systemUTC());
        PostgresTransactionStore b = replica("b", Clock.systemUTC());
        a.insertGlobal(global("x:a", Clock.systemUTC())).join();
        b.insertGlobal(global("x:b", Clock.systemUTC())).join();

        long until = System.nanoTime() + 2 * LEASE.toNanos(); // past the first lease: only renewal keeps it
        do {
            assertThat(a.claimUnended(REACHES_DB1)).extracting(GlobalTransaction::xid).containsExactly("x:a");
            assertThat(b.claimUnended(REACHES_DB1)).extracting(GlobalTransaction::xid).containsExactly("x:b");
            Thread.sleep(RENEW.toMillis());
        } while (System.nanoTime() < until);
        assertThat(owners()).containsEntry("x:a", "a").containsEntry("x:b", "b");
    }

    /**
     * Two replicas whose own clocks are two hours apart decide by the same time: the database's.
     * The database runs on this machine, so its clock is the system clock.
     */
    @Test
    void replicasWithSkewedClocksShareTheDatabasesClock() {
        Duration hour = Duration.ofHours(1);
        PostgresTransactionStore behind = replica("behind", Clock.offset(Clock.systemUTC(), hour.negated()));
        PostgresTransactionStore ahead = replica("ahead", Clock.offset(Clock.systemUTC(), hour));
        long tolerance = Duration.ofSeconds(5).toMillis(); // half a round trip on a loaded machine, at most
        for (PostgresTransactionStore store : List.of(behind, ahead)) {
            long now = System.currentTimeMillis();
            assertThat(store.sharedClock()).isPresent();
            assertThat(store.sharedClock().get().millis()).as("shared clock of %s", store.replicaId())
                    .isBetween(now - tolerance, System.currentTimeMillis() + tolerance);
        }
    }

    /** Readiness follows the renewal: a replica that cannot renew its leases reports itself unhealthy. */
    @Test
    void aReplicaThatCannotRenewItsLeasesIsNotHealthy() throws Exception {
        PostgresTransactionStore store = replica("r", Clock.systemUTC());
        store.checkHealth();
        try (Connection c = admin.getConnection(); java.sql.Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.execute("LOCK TABLE cohort_global_tx IN ACCESS EXCLUSIVE MODE"); // renewals wait behind this
            long deadline = System.nanoTime() + LEASE.toNanos() + Duration.ofSeconds(30).toNanos();
            while (true) {
                try {
                    store.checkHealth();
                } catch (io.cohort.tc.store.StoreUnavailableException e) {
                    assertThat(e).hasMessageContaining("has not renewed its leases");
                    break;
                }
                assertThat(System.nanoTime()).as("unhealthy once half the lease passed unrenewed").isLessThan(deadline);
                Thread.sleep(50);
            }
            c.rollback();
        }
        long deadline = System.nanoTime() + LEASE.toNanos() + Duration.ofSeconds(30).toNanos();
        while (true) {
            try {
                store.checkHealth();
                break;
            } catch (io.cohort.tc.store.StoreUnavailableException e) {
                assertThat(System.nanoTime()).as("healthy again after a renewal").isLessThan(deadline);
                Thread.sleep(50);
            }
        }
    }

    @Test
    void aDeadReplicasTransactionsAreTakenOverAfterTheLeaseByExactlyOneSurvivor() throws Exception {
        PostgresTransactionStore dead = replica("dead", Clock.systemUTC());
        PostgresTransactionStore b = replica("b", Clock.systemUTC());
        PostgresTransactionStore c = replica("c", Clock.systemUTC());
        int count = 40;
        for (int i = 0; i < count; i++) {
            dead.insertGlobal(global("x:" + i, Clock.systemUTC())).join();
        }
        long killedAt = System.nanoTime();
        dead.close(); // renewal stops, as when the process dies
        // When each lease runs out, by the database's clock: the last renewal may have been late (a loaded
        // machine), so the time since the kill says nothing about it.
        Map<String, Long> leaseEnds = leaseEndsOf("dead");
        assertThat(leaseEnds).hasSize(count);

        Map<String, String> takenBy = new HashMap<>();
        long deadline = killedAt + 3 * LEASE.toNanos() + Duration.ofSeconds(30).toNanos();
        while (takenBy.size() < count) {
            assertThat(System.nanoTime()).as("every transaction taken over").isLessThan(deadline);
            CompletableFuture<List<GlobalTransaction>> byB = CompletableFuture.supplyAsync(() -> b.claimUnended(REACHES_DB1));
            CompletableFuture<List<GlobalTransaction>> byC = CompletableFuture.supplyAsync(() -> c.claimUnended(REACHES_DB1));
            List<GlobalTransaction> ofB = byB.join();
            List<GlobalTransaction> ofC = byC.join();
            if (!ofB.isEmpty() || !ofC.isEmpty()) {
                long databaseNow = databaseMillis(); // after the claims, so at or past the time they were made
                for (GlobalTransaction tx : concat(ofB, ofC)) {
                    assertThat(databaseNow).as("%s taken over only once its lease ran out", tx.xid())
                            .isGreaterThanOrEqualTo(leaseEnds.get(tx.xid()));
                }
            }
            Set<String> both = new HashSet<>(ofB.stream().map(GlobalTransaction::xid).toList());
            both.retainAll(ofC.stream().map(GlobalTransaction::xid).toList());
            assertThat(both).as("held by both survivors at once").isEmpty();
            ofB.forEach(tx -> assertThat(takenBy.merge(tx.xid(), "b", (old, now) -> old)).isEqualTo("b"));
            ofC.forEach(tx -> assertThat(takenBy.merge(tx.xid(), "c", (old, now) -> old)).isEqualTo("c"));
            Thread.sleep(50);
        }
        assertThat(owners()).isEqualTo(takenBy);
    }

    @Test
    void theReplicaThatMovesATransactionOwnsItFromThenOn() {
        PostgresTransactionStore a = replica("a", Clock.systemUTC());
        PostgresTransactionStore b = replica("b", Clock.systemUTC());
        a.insertGlobal(global("x:1", Clock.systemUTC())).join();

        assertThat(b.transitionGlobal("x:1", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "commit").join()).isTrue();

        assertThat(a.claimUnended(REACHES_DB1)).isEmpty();
        assertThat(b.claimUnended(REACHES_DB1)).extracting(GlobalTransaction::xid).containsExactly("x:1");
        assertThat(a.acquireLease("x:1", false).join()).as("b's lease is live").isFalse();
        assertThat(a.acquireLease("x:1", true).join()).as("a person asked a").isTrue();
        assertThat(owners()).containsEntry("x:1", "a");
    }

    @Test
    void aHandedOverTransactionGoesOnlyToAReplicaThatReachesItsResources() {
        PostgresTransactionStore a = replica("a", Clock.systemUTC());
        PostgresTransactionStore b = replica("b", Clock.systemUTC());
        a.insertGlobal(global("x:1", Clock.systemUTC())).join();
        RowKey row = new RowKey("db2", "account", "1");
        assertThat(a.registerBranch(new Branch("x:1", ids.incrementAndGet(), "db2", "rm", List.of(row.lockKey()),
                new byte[0], BranchStatus.REGISTERED, 0, ""), List.of(row)).join())
                .isInstanceOf(RegisterResult.Registered.class);

        assertThat(a.releaseLease("x:1")).isTrue();
        assertThat(a.claimUnended(REACHES_DB1)).as("a has no RM for db2").isEmpty();
        assertThat(b.claimUnended(Set.of("db1", "db2"))).extracting(GlobalTransaction::xid).containsExactly("x:1");
        assertThat(owners()).containsEntry("x:1", "b");
    }

    /**
     * Replica clocks an hour apart either way: the skewed clock writes begin and update times, but
     * leases are written and compared by the database, so neither replica takes the other's.
     */
    @Test
    void replicaClocksSkewedByAnHourStillHonourEachOthersLeases() throws Exception {
        Clock behind = Clock.offset(Clock.systemUTC(), Duration.ofHours(-1));
        Clock ahead = Clock.offset(Clock.systemUTC(), Duration.ofHours(1));
        PostgresTransactionStore a = replica("a", behind);
        PostgresTransactionStore b = replica("b", ahead);
        a.insertGlobal(global("x:a", behind)).join();
        b.insertGlobal(global("x:b", ahead)).join();
        a.transitionGlobal("x:a", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "").join();

        long until = System.nanoTime() + 2 * LEASE.toNanos();
        do {
            assertThat(b.claimUnended(REACHES_DB1)).extracting(GlobalTransaction::xid).containsExactly("x:b");
            assertThat(a.claimUnended(REACHES_DB1)).extracting(GlobalTransaction::xid).containsExactly("x:a");
            Thread.sleep(RENEW.toMillis());
        } while (System.nanoTime() < until);
        assertThat(owners()).containsEntry("x:a", "a").containsEntry("x:b", "b");
    }

    @Test
    void leaseSettingsThatCannotWorkAreRefusedWithTheSettingNamed() {
        assertThatThrownBy(() -> new Leases("a", Duration.ofSeconds(3), Duration.ofSeconds(2)))
                .hasMessageContaining("cohort.tc.store.postgres.lease-time").hasMessageContaining("twice");
        assertThatThrownBy(() -> new Leases(" ", LEASE, RENEW))
                .hasMessageContaining("cohort.tc.store.postgres.replica-id");
        assertThatThrownBy(() -> new Leases("a", LEASE, Duration.ZERO))
                .hasMessageContaining("cohort.tc.store.postgres.renew-interval");
        assertThat(Leases.generatedId()).isNotEqualTo(Leases.generatedId())
                .contains(Long.toString(ProcessHandle.current().pid()));
    }

    /** The end of every lease {@code owner} holds, in epoch ms by the database's clock. */
    private Map<String, Long> leaseEndsOf(String owner) {
        Map<String, Long> ends = new HashMap<>();
        try (Connection c = admin.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT xid, floor(extract(epoch FROM lease_until) * 1000)::bigint FROM cohort_global_tx WHERE owner = ?")) {
            ps.setString(1, owner);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ends.put(rs.getString(1), rs.getLong(2));
                }
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        return ends;
    }

    /** The database's clock now (not its transaction's start, which {@code now()} would be), in epoch ms. */
    private long databaseMillis() {
        try (Connection c = admin.getConnection(); PreparedStatement ps = c.prepareStatement(
                "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint");
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<GlobalTransaction> concat(List<GlobalTransaction> a, List<GlobalTransaction> b) {
        List<GlobalTransaction> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    private Map<String, String> owners() {
        Map<String, String> owners = new HashMap<>();
        try (Connection c = admin.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT xid, owner FROM cohort_global_tx");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                owners.put(rs.getString(1), rs.getString(2));
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        return owners;
    }

    private static GlobalTransaction global(String xid, Clock clock) {
        long now = clock.millis();
        return new GlobalTransaction(xid, "transfer", "bank", TransactionProtocol.TWO_PHASE, GlobalStatus.BEGIN, now,
                60_000, "", "", now);
    }
}
