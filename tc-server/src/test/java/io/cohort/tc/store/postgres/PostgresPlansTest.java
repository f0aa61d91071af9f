package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.testsupport.TestPostgres;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The store's statements keep finding their rows by key as its tables grow: a plan PostgreSQL
 * made while the tables were nearly empty is not reused once they are large.
 */
class PostgresPlansTest {

    /** How long a write may take on a loaded machine, and PostgreSQL's statistics to arrive (10 s when idle). */
    private static final Duration WAIT = Duration.ofSeconds(60);

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

    /**
     * Status changes made first on an empty table (each its own batch, on the writer's one
     * connection: enough executions for PostgreSQL to cache a generic plan), then on a table of
     * 20,000 finished transactions that no ANALYZE has seen: none of them scans the table. Before,
     * the cached plan joined the batch's moves to a sequential scan of {@code cohort_global_tx} in
     * every batch, for as long as the connection lived.
     */
    @Test
    void statusChangesUseTheKeyAfterTheTableGrew() throws Exception {
        String url = TestPostgres.get().createDatabase("pg_plans");
        admin = TestPostgres.get().dataSource(url, 2);
        store = PostgresTransactionStore.create(new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), 16), Clock.systemUTC(), new SimpleMeterRegistry(), true);
        // No ANALYZE (whose new statistics would replace cached plans), on servers with autovacuum too.
        execute("ALTER TABLE cohort_global_tx SET (autovacuum_enabled = false)");
        int small = 12;
        for (int i = 0; i < small; i++) {
            move("tc:small-" + i);
        }
        // The small table's scans (the right plan there) are reported later, with the same backends' inserts
        // and updates: wait for those, so that they are not counted against the large table's moves.
        awaitStat("n_tup_ins", small);
        awaitStat("n_tup_upd", small);
        execute("INSERT INTO cohort_global_tx (xid, protocol, status, begin_time, timeout_ms, updated_at)"
                + " SELECT 'tc:old-' || n, 1, 5, now(), 60000, now() FROM generate_series(1, 20000) n");
        long updatesBefore = stat("n_tup_upd");
        long scansBefore = stat("seq_scan");
        int moves = 6;
        for (int i = 0; i < moves; i++) {
            move("tc:large-" + i);
        }
        // A backend reports its counters together once idle: the updates arrive with the scans.
        awaitStat("n_tup_upd", updatesBefore + moves);
        assertThat(stat("seq_scan") - scansBefore).as("scans of cohort_global_tx during the moves").isZero();
    }

    private void awaitStat(String column, long atLeast) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (stat(column) < atLeast && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(100);
        }
        assertThat(stat(column)).as("%s of cohort_global_tx reported", column).isGreaterThanOrEqualTo(atLeast);
    }

    private void move(String xid) throws Exception {
        long now = System.currentTimeMillis();
        store.insertGlobal(new GlobalTransaction(xid, "plans", "app", TransactionProtocol.TWO_PHASE,
                GlobalStatus.BEGIN, now, 60_000, "", "", now)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.ROLLBACKING, "")
                .get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
    }

    private void execute(String sql) throws SQLException {
        try (Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /** A counter of cohort_global_tx in pg_stat_user_tables, read fresh (not from this session's snapshot). */
    private long stat(String column) throws SQLException {
        try (Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute("SELECT pg_stat_clear_snapshot()");
            try (ResultSet rs = s.executeQuery("SELECT " + column
                    + " FROM pg_stat_user_tables WHERE relname = 'cohort_global_tx'")) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }
}
