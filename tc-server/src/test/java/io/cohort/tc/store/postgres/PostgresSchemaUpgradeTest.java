package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.testsupport.TestPostgres;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A store written by the version before {@code finished_at} (no such column, an index on
 * (status, updated_at) and one on the lock holder) opened by this version: its unfinished
 * transactions recover (taken over, their branches read, their locks released by the keys their
 * branches name), its finished ones are purged, and a decision is then a HOT update.
 */
class PostgresSchemaUpgradeTest {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long HOUR = 3_600_000;

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private String url;
    private DataSource admin;
    private PostgresTransactionStore store;

    @AfterEach
    void close() throws Exception {
        if (store != null) {
            store.close();
        }
        if (admin != null) {
            ((AutoCloseable) admin).close();
        }
    }

    @Test
    void aStoreWrittenByThePreviousSchemaRecoversAndPurges() throws Exception {
        url = TestPostgres.get().createDatabase("pg_upgrade");
        admin = TestPostgres.get().dataSource(url, 2);
        long now = System.currentTimeMillis();
        try (Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute(resource("db/tc/postgresql-before-finished-at.sql"));
            // As that version wrote them: a decided transaction of a replica that died (lease run out)
            // with its two branches and their locks, a finished one, and a live one of another replica.
            s.execute(global("tc:decided", GlobalStatus.ASYNC_COMMITTING, now - 60_000, "'dead-replica'",
                    "now() - interval '1 minute'"));
            s.execute(branch("tc:decided", 11, "db1", "{\"account:1,2\"}", now - 59_000));
            s.execute(branch("tc:decided", 12, "db2", "{\"ledger:7\"}", now - 58_000));
            s.execute(lock("db1", "account", "1", "tc:decided", 11, now - 59_000));
            s.execute(lock("db1", "account", "2", "tc:decided", 11, now - 59_000));
            s.execute(lock("db2", "ledger", "7", "tc:decided", 12, now - 58_000));
            s.execute(global("tc:finished", GlobalStatus.COMMITTED, now - 2 * HOUR, "NULL", "NULL"));
            s.execute(global("tc:live", GlobalStatus.BEGIN, now - 1_000, "'live-replica'", "now() + interval '1 hour'"));
            s.execute(branch("tc:live", 21, "db1", "{\"account:3\"}", now - 900));
            s.execute(lock("db1", "account", "3", "tc:live", 21, now - 900));
        }

        store = PostgresTransactionStore.create(new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), 4), Clock.systemUTC(), registry, true);

        assertThat(indexes()).contains("cohort_global_tx_unfinished", "cohort_global_tx_finished")
                .doesNotContain("cohort_global_tx_status_updated", "cohort_row_lock_xid");
        assertThat(store.countUnfinishedExactly("bank").total()).as("the finished one is not counted").isEqualTo(2);
        assertThat(store.claimUnended(Set.of("db1", "db2"))).extracting(GlobalTransaction::xid)
                .as("the dead replica's, not the live one's").containsExactly("tc:decided");
        assertThat(store.findBranches("tc:decided")).extracting(Branch::branchId).containsExactly(11L, 12L);

        store.releaseLocks("tc:decided").get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);

        assertThat(store.findLocks("tc:decided")).isEmpty();
        assertThat(store.findLocks("tc:live")).extracting(RowLock::row)
                .containsExactly(new RowKey("db1", "account", "3"));
        assertThat(store.transitionGlobal("tc:decided", GlobalStatus.ASYNC_COMMITTING, GlobalStatus.COMMITTED,
                "all branches committed", ChangeCause.TC).join()).isTrue();
        assertThat(store.history("tc:decided")).extracting(h -> h.branchId() + " " + h.status())
                .containsExactly("0 BEGIN", "11 REGISTERED", "12 REGISTERED", "0 COMMITTED");

        assertThat(store.purgeEndedBefore(now - HOUR).join()).as("the old finished one only").isEqualTo(1);
        assertThat(store.findGlobal("tc:finished")).isEmpty();
        assertThat(store.findGlobal("tc:decided")).isPresent();
        assertThat(store.countUnfinishedExactly("bank").total()).isEqualTo(1);
    }

    /** The schema's list of final status codes, which computes finished_at, is GlobalStatus's. */
    @Test
    void finishedAtIsSetForTheFinalStatusesOnly() throws Exception {
        open();
        try (Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute(global("tc:1", GlobalStatus.BEGIN, 1_000, "NULL", "NULL"));
            for (GlobalStatus status : GlobalStatus.values()) {
                s.execute("UPDATE cohort_global_tx SET status = " + status.code() + " WHERE xid = 'tc:1'");
                try (ResultSet rs = s.executeQuery("SELECT finished_at IS NOT NULL FROM cohort_global_tx")) {
                    rs.next();
                    assertThat(rs.getBoolean(1)).as(status.name()).isEqualTo(status.isFinal());
                }
            }
        }
    }

    /**
     * No index holds status or updated_at, so a move that does not finish the transaction (the
     * decision) changes no indexed value and PostgreSQL makes it a HOT update: no index entry.
     */
    @Test
    void aDecisionIsAHotUpdate() throws Exception {
        open();
        GlobalTransaction tx = new GlobalTransaction("tc:1", "transfer", "bank", TransactionProtocol.TWO_PHASE,
                GlobalStatus.BEGIN, 1_000, 60_000, "", "", 1_000);
        store.insertGlobal(tx).join();
        store.registerBranch(new Branch("tc:1", 11, "db1", "rm", List.of("account:1"), new byte[] {1},
                io.cohort.protocol.BranchStatus.REGISTERED, 2_000, ""), RowKey.expand("db1", List.of("account:1")))
                .join();
        String before = ctid("tc:1");

        assertThat(store.transitionGlobal("tc:1", GlobalStatus.BEGIN, GlobalStatus.ASYNC_COMMITTING, "",
                ChangeCause.TM).join()).isTrue();

        // A HOT update leaves the new version on the same page, reached through the old one's line
        // pointer; the primary key still points at the old version, so an index scan finds it there.
        assertThat(hotUpdates()).as("HOT updates of cohort_global_tx").isEqualTo(1);
        assertThat(ctid("tc:1")).as("same page").startsWith(before.substring(0, before.indexOf(',')));
    }

    private void open() {
        url = TestPostgres.get().createDatabase("pg_upgrade");
        admin = TestPostgres.get().dataSource(url, 2);
        store = PostgresTransactionStore.create(new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), 4), Clock.systemUTC(), registry, true);
    }

    /** HOT updates of the global table, from the server's statistics (flushed within seconds). */
    private long hotUpdates() throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            try (Connection c = admin.getConnection(); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                         + " WHERE relname = 'cohort_global_tx'")) {
                rs.next();
                if (rs.getLong(1) >= 1 || System.nanoTime() > deadline) {
                    return rs.getLong(2);
                }
            }
            Thread.sleep(100);
        }
    }

    private String ctid(String xid) throws SQLException {
        try (Connection c = admin.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT ctid::text FROM cohort_global_tx WHERE xid = ?")) {
            ps.setString(1, xid);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        }
    }

    private List<String> indexes() throws SQLException {
        List<String> names = new ArrayList<>();
        try (Connection c = admin.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT indexname FROM pg_indexes WHERE tablename LIKE 'cohort_%'")) {
            while (rs.next()) {
                names.add(rs.getString(1));
            }
        }
        return names;
    }

    private static String global(String xid, GlobalStatus status, long atMs, String owner, String leaseUntil) {
        return """
                INSERT INTO cohort_global_tx (xid, name, application_id, protocol, status, begin_time, timeout_ms,
                    reason, updated_at, owner, lease_until)
                VALUES ('%s', 'transfer', 'bank', 1, %d, %s, 60000, '', %s, %s, %s)""".formatted(xid, status.code(),
                time(atMs), time(atMs + 500), owner, leaseUntil);
    }

    private static String branch(String xid, long branchId, String resource, String lockKeys, long atMs) {
        return """
                INSERT INTO cohort_branch (xid, branch_id, resource_id, client_id, lock_keys, application_data, status,
                    registered_at)
                VALUES ('%s', %d, '%s', 'rm', '%s', '\\x01', 1, %s)""".formatted(xid, branchId, resource, lockKeys,
                time(atMs));
    }

    private static String lock(String resource, String table, String pk, String xid, long branchId, long atMs) {
        return "INSERT INTO cohort_row_lock VALUES ('%s', '%s', '%s', '%s', %d, %s)".formatted(resource, table, pk,
                xid, branchId, time(atMs));
    }

    private static String time(long epochMs) {
        return "timestamptz 'epoch' + " + epochMs + " * interval '1 millisecond'";
    }

    private static String resource(String name) throws Exception {
        try (InputStream in = PostgresSchemaUpgradeTest.class.getClassLoader().getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
