package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.store.StoreUnavailableException;
import io.cohort.tc.store.TransactionStore;
import io.cohort.tc.store.TransactionStoreContractTest;
import io.cohort.testsupport.TestPostgres;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * The store contract on a real PostgreSQL, plus what only this store has: the schema it applies,
 * its health check and its metrics. One database for the class, emptied before each test.
 */
class PostgresTransactionStoreTest extends TransactionStoreContractTest {

    private static String url;
    private static HikariDataSource admin;

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @BeforeAll
    static void createDatabase() {
        url = TestPostgres.get().createDatabase("pg_store");
        admin = TestPostgres.get().dataSource(url, 2);
    }

    @AfterAll
    static void dropDatabase() throws SQLException {
        admin.close();
        String server = url.substring(0, url.lastIndexOf('/') + 1);
        try (HikariDataSource postgres = TestPostgres.get().dataSource(server + "postgres", 1);
             Connection c = postgres.getConnection(); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + url.substring(server.length()) + " WITH (FORCE)");
        }
    }

    @Override
    protected TransactionStore newStore() throws SQLException {
        TransactionStore created = open(clock);
        try (Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute("TRUNCATE cohort_global_tx, cohort_branch, cohort_row_lock, cohort_status_history");
        }
        return created;
    }

    @Override
    protected TransactionStore reopen(TransactionStore current) {
        current.close();
        return open(clock);
    }

    /** The URL the store connects with: the database's, as a user configures it. */
    String storeUrl(String databaseUrl) {
        return databaseUrl;
    }

    private TransactionStore open(Clock storeClock) {
        return PostgresTransactionStore.create(
                new PostgresStoreConfig(storeUrl(url), TestPostgres.get().user(), TestPostgres.get().password(), 4),
                storeClock, registry, true);
    }

    @Test
    void schemaInitIsIdempotent() throws SQLException {
        store.insertGlobal(global("tc:1", 100)).join();

        // Two more stores apply the schema again, concurrently with a running one; data stays.
        try (TransactionStore second = open(clock); TransactionStore third = open(clock)) {
            assertThat(second.findGlobal("tc:1")).isPresent();
            assertThat(third.findGlobal("tc:1")).isPresent();
        }
        try (Connection c = admin.getConnection(); Statement s = c.createStatement();
             var rs = s.executeQuery("SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'cohort_%'")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(8); // four primary keys and four declared indexes
        }
    }

    @Test
    void healthPassesOnALiveDatabase() {
        store.checkHealth();
    }

    @Test
    void healthFailsWithTheReasonWhenTheDatabaseIsUnreachable() {
        PGSimpleDataSource nowhere = new PGSimpleDataSource();
        nowhere.setServerNames(new String[] {"127.0.0.1"});
        nowhere.setPortNumbers(new int[] {1}); // nothing listens on port 1
        nowhere.setDatabaseName("cohort");
        nowhere.setUser("postgres");
        nowhere.setConnectTimeout(2);
        try (TransactionStore down = new PostgresTransactionStore(nowhere, clock, registry, false)) {
            assertThatThrownBy(down::checkHealth)
                    .isInstanceOf(StoreUnavailableException.class)
                    .hasMessageContaining("checkHealth failed")
                    .hasMessageContaining("SQLState 08001");
            assertThatThrownBy(() -> down.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "")
                    .join())
                    .hasCauseInstanceOf(StoreUnavailableException.class)
                    .hasMessageContaining("transitionGlobal for xid tc:1 failed");
        }
    }

    @Test
    void startingOnAnUnreachableDatabaseFailsNamingIt() {
        PostgresStoreConfig config = new PostgresStoreConfig("jdbc:postgresql://127.0.0.1:1/cohort", "postgres", "", 2);
        assertThatThrownBy(() -> PostgresTransactionStore.create(config, clock, registry, true))
                .isInstanceOf(StoreUnavailableException.class)
                .hasMessageContaining("jdbc:postgresql://127.0.0.1:1/cohort");
    }

    @Test
    void everyDurableWriteIsTimed() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1"), rows("db1", "account:1")).join();
        store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "").join();

        Timer fsync = registry.get("cohort.store.fsync").timer();
        assertThat(fsync.count()).isEqualTo(2); // the insert is not a durable write
        assertThat(registry.get("cohort.store.batch.size").summary().totalAmount()).isEqualTo(2);
    }

    @Test
    void aCommitDecisionFreesItsRowsInTheSameWriteAndOnlyWhenItIsMade() {
        store.insertGlobal(global("tc:1", 100)).join();
        store.insertGlobal(global("tc:2", 101)).join();
        store.insertGlobal(global("tc:3", 102)).join();
        store.registerBranch(branch("tc:1", 11, "db1", "account:1,2"), rows("db1", "account:1,2")).join();
        store.registerBranch(branch("tc:1", 12, "db2", "ledger:1"), rows("db2", "ledger:1")).join();
        store.registerBranch(branch("tc:2", 21, "db1", "account:3"), rows("db1", "account:3")).join();
        store.registerBranch(branch("tc:3", 31, "db1", "account:4"), rows("db1", "account:4")).join();
        store.transitionGlobal("tc:2", GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "").join();
        Timer writes = registry.get("cohort.store.fsync").timer();

        // Moved together, as concurrent decisions are: one is made, one loses to the rollback above.
        var commit = store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "");
        var lost = store.transitionGlobal("tc:2", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "");
        assertThat(commit.join()).isTrue();
        assertThat(lost.join()).isFalse();

        assertThat(store.findLocks("tc:1")).as("the commit decision's rows, freed with it").isEmpty();
        assertThat(store.findLocks("tc:2")).as("a lost move frees nothing: the rollback needs them").hasSize(1);
        assertThat(store.findLocks("tc:3")).hasSize(1);
        long afterDecision = writes.count();
        store.releaseLocks("tc:1").join(); // what the coordinator does after the decision: nothing left to write
        assertThat(writes.count()).isEqualTo(afterDecision);
        store.insertGlobal(global("tc:4", 103)).join();
        assertThat(store.registerBranch(branch("tc:4", 41, "db1", "account:1,2"), rows("db1", "account:1,2")).join())
                .isEqualTo(new io.cohort.tc.store.RegisterResult.Registered(41));
    }

    @Test
    void aCommitDecisionRacingARegistrationLeavesNoLockOnceTheCoordinatorReleases() {
        // The decision frees the rows this replica knew when it was submitted; a registration that lands
        // before it in the database but after that must not keep its rows locked past the release.
        for (int i = 0; i < 50; i++) {
            String xid = "tc:commit-race-" + i;
            store.insertGlobal(global(xid, 100)).join();
            store.registerBranch(branch(xid, 2000 + i, "db1", "account:a" + i), rows("db1", "account:a" + i)).join();
            var late = store.registerBranch(branch(xid, 3000 + i, "db2", "ledger:b" + i), rows("db2", "ledger:b" + i));
            var decision = store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "");
            late.join();
            assertThat(decision.join()).isTrue();
            store.releaseLocks(xid).join(); // what the coordinator does after the decision
            assertThat(store.findLocks(xid)).as(xid).isEmpty();
        }
    }

    @Test
    void aRegistrationAfterTheDecisionIsRefusedEvenWhenTheyRace() {
        // The decision and a registration on the same transaction, many times: a branch is either
        // registered before the decision (and seen by it) or refused.
        for (int i = 0; i < 50; i++) {
            String xid = "tc:race-" + i;
            store.insertGlobal(global(xid, 100)).join();
            var registration = store.registerBranch(branch(xid, 1000 + i, "db1", "account:" + i),
                    rows("db1", "account:" + i));
            var decision = store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "");
            var result = registration.join();
            assertThat(decision.join()).isTrue();
            if (result instanceof io.cohort.tc.store.RegisterResult.Registered) {
                assertThat(store.findBranches(xid)).hasSize(1);
            } else {
                assertThat(result).isEqualTo(new io.cohort.tc.store.RegisterResult.NotActive(GlobalStatus.COMMITTING));
                assertThat(store.findBranches(xid)).isEmpty();
                assertThat(store.findLocks(xid)).isEmpty();
            }
        }
        assertThat(store.countByStatus()).containsEntry(GlobalStatus.COMMITTING, 50L);
        assertThat(Map.copyOf(store.countByStatus())).doesNotContainKey(GlobalStatus.BEGIN);
    }
}
