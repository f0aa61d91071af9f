package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.store.RegisterResult;
import io.cohort.testsupport.TestPostgres;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

    /** The store's tables whose scans the growth test counts. */
    private static final List<String> TABLES = List.of("cohort_global_tx", "cohort_branch", "cohort_row_lock");

    /** PostgreSQL's element type of each Java array type the store binds. */
    private static final Map<Class<?>, String> ARRAY_TYPES = Map.of(String.class, "text", Long.class, "bigint",
            Short.class, "smallint", Integer.class, "int", Boolean.class, "boolean");

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
     * Transactions run first on empty tables (begin, a registration with its row lock, the decision,
     * the lock release, the final move that deletes the branch: each its own batch, on the writers'
     * connections, enough executions for PostgreSQL to cache a plan of every statement), then on
     * tables of 20,000 finished transactions, branches and locks that no ANALYZE has seen: none of
     * them scans a table. Before, the cached plan of the status change joined the batch's moves to a
     * sequential scan of {@code cohort_global_tx} in every batch, for as long as the connection lived.
     */
    @Test
    void aTransactionsStatementsUseTheKeysAfterTheTablesGrew() throws Exception {
        String url = TestPostgres.get().createDatabase("pg_plans");
        admin = TestPostgres.get().dataSource(url, 2);
        store = PostgresTransactionStore.create(new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), 16), Clock.systemUTC(), new SimpleMeterRegistry(), true);
        // No ANALYZE (whose new statistics would replace cached plans), on servers with autovacuum too.
        for (String table : TABLES) {
            execute("ALTER TABLE " + table + " SET (autovacuum_enabled = false)");
        }
        int small = 12;
        for (int i = 0; i < small; i++) {
            run("tc:small-" + i, 1000 + i);
        }
        // The small tables' scans (the right plan there) are reported later, with the same backends' inserts
        // and updates: wait for those, so that they are not counted against the large tables' transactions.
        awaitStat("cohort_global_tx", "n_tup_upd", 2L * small);
        awaitStat("cohort_row_lock", "n_tup_del", small);
        execute("INSERT INTO cohort_global_tx (xid, protocol, status, begin_time, timeout_ms, updated_at)"
                + " SELECT 'tc:old-' || n, 1, 5, now(), 60000, now() FROM generate_series(1, 20000) n");
        execute("INSERT INTO cohort_branch (branch_id, xid, resource_id, lock_keys, application_data, status, registered_at)"
                + " SELECT 100000 + n, 'tc:old-' || n, 'db', ARRAY['account:' || n], '', 1, now() FROM generate_series(1, 20000) n");
        execute("INSERT INTO cohort_row_lock (resource_id, table_name, pk, xid, branch_id, acquired_at)"
                + " SELECT 'db', 'account', 'old-' || n, 'tc:old-' || n, 100000 + n, now() FROM generate_series(1, 20000) n");
        long updatesBefore = stat("cohort_global_tx", "n_tup_upd");
        long lockDeletesBefore = stat("cohort_row_lock", "n_tup_del");
        Map<String, Long> scansBefore = new LinkedHashMap<>();
        for (String table : TABLES) {
            scansBefore.put(table, stat(table, "seq_scan"));
        }
        int large = 6;
        for (int i = 0; i < large; i++) {
            run("tc:large-" + i, 2000 + i);
        }
        // A backend reports its counters together once idle: the updates and deletes arrive with the scans.
        awaitStat("cohort_global_tx", "n_tup_upd", updatesBefore + 2L * large);
        awaitStat("cohort_row_lock", "n_tup_del", lockDeletesBefore + large);
        for (String table : TABLES) {
            assertThat(stat(table, "seq_scan") - scansBefore.get(table)).as("scans of %s during the transactions", table)
                    .isZero();
        }
    }

    /**
     * Each statement is planned once per connection and that plan is reused: the pool's sessions
     * keep a generic plan however the parameters change (with every access path but the key
     * lookups turned off, so that the plan made on empty tables is still the right one when they
     * are large; see the test above). Before, every execution was planned again, a quarter of
     * PostgreSQL's time on the store's statements.
     */
    @Test
    void aStatementIsPlannedOncePerConnection() throws Exception {
        String url = TestPostgres.get().createDatabase("pg_plans");
        PostgresStoreConfig config = new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), 4);
        store = PostgresTransactionStore.create(config, Clock.systemUTC(), new SimpleMeterRegistry(), true);
        try (HikariDataSource pool = config.createPool(); Connection c = pool.getConnection()) {
            try (PreparedStatement find = c.prepareStatement(Sql.FIND_GLOBAL)) {
                for (int i = 0; i < 12; i++) {
                    find.setString(1, "tc:" + i);
                    find.executeQuery().close();
                }
            }
            try (PreparedStatement plans = c.prepareStatement(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE ?")) {
                plans.setString(1, "SELECT % FROM cohort_global_tx WHERE xid = $1");
                try (ResultSet rs = plans.executeQuery()) {
                    assertThat(rs.next()).as("the driver prepared the lookup on the server").isTrue();
                    assertThat(rs.getLong("custom_plans")).as("executions planned for their arguments").isZero();
                    assertThat(rs.getLong("generic_plans")).as("executions of the one plan").isPositive();
                }
            }
        }
    }

    /**
     * The caps' count of unfinished transactions reads the index of unfinished rows and skips what
     * an earlier count found finished: 20,000 transactions that finished since the last VACUUM cost
     * the first count a visit of each, and the next one only the index. Before, every count (one
     * each 100 ms) visited the table's pages of every transaction finished since the last VACUUM
     * (a bitmap scan, which marks no index entry dead): on a server with autovacuum off, more at
     * each count.
     */
    @Test
    void theCountOfUnfinishedTransactionsSkipsWhatFinishedBefore() throws Exception {
        String url = TestPostgres.get().createDatabase("pg_plans");
        admin = TestPostgres.get().dataSource(url, 2);
        PostgresStoreConfig config = new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), 4);
        store = PostgresTransactionStore.create(config, Clock.systemUTC(), new SimpleMeterRegistry(), true);
        execute("ALTER TABLE cohort_global_tx SET (autovacuum_enabled = false)");
        int finished = 20_000;
        execute("INSERT INTO cohort_global_tx (xid, application_id, protocol, status, begin_time, timeout_ms, updated_at)"
                + " SELECT 'tc:old-' || n, 'bank', 1, 1, now(), 60000, now() FROM generate_series(1, " + finished + ") n");
        execute("INSERT INTO cohort_global_tx (xid, application_id, protocol, status, begin_time, timeout_ms, updated_at)"
                + " VALUES ('tc:running', 'bank', 1, 1, now(), 60000, now())");
        execute("UPDATE cohort_global_tx SET status = 5 WHERE xid LIKE 'tc:old-%'");
        assertThat(store.countUnfinishedExactly("bank").ofApplication()).isEqualTo(1);
        try (HikariDataSource pool = config.createPool(); Connection c = pool.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + Sql.COUNT_UNFINISHED)) {
            rs.next();
            String plan = rs.getString(1);
            Matcher hit = Pattern.compile("\"Shared Hit Blocks\": (\\d+)").matcher(plan);
            Matcher read = Pattern.compile("\"Shared Read Blocks\": (\\d+)").matcher(plan);
            assertThat(hit.find() && read.find()).as("buffers in %s", plan).isTrue();
            long pages = Long.parseLong(hit.group(1)) + Long.parseLong(read.group(1));
            assertThat(pages).as("pages the second count read, plan %s", plan).isLessThan(finished / 100);
        }
    }

    /**
     * A batch of 64 transactions' registrations (a branch and a row lock each), their commit
     * decisions (which delete the row locks), then their moves to a final status (which delete the
     * branches into the history), each run under the store's session settings: every row finds its
     * transaction by key. Before, the registrations and the moves joined the batch's rows to its
     * transactions in a nested loop that compared each row with every transaction of the batch:
     * 64 × 63 comparisons dropped, the n² that grew PostgreSQL's time per transaction with the batch
     * size at high concurrency.
     */
    @Test
    void aBatchMatchesItsRowsToItsTransactionsByKey() throws Exception {
        String url = TestPostgres.get().createDatabase("pg_plans");
        admin = TestPostgres.get().dataSource(url, 2);
        PostgresStoreConfig config = new PostgresStoreConfig(url, TestPostgres.get().user(),
                TestPostgres.get().password(), 4);
        store = PostgresTransactionStore.create(config, Clock.systemUTC(), new SimpleMeterRegistry(), true);
        int n = 64;
        execute("INSERT INTO cohort_global_tx (xid, protocol, status, begin_time, timeout_ms, updated_at)"
                + " SELECT 'tc:batch-' || n, 1, " + GlobalStatus.BEGIN.code() + ", now(), 60000, now()"
                + " FROM generate_series(1, " + n + ") n");
        String[] xids = new String[n];
        Long[] branchIds = new Long[n];
        String[] pks = new String[n];
        for (int i = 0; i < n; i++) {
            xids[i] = "tc:batch-" + (i + 1);
            branchIds[i] = 5000L + i;
            pks[i] = "pk-" + i;
        }
        long now = System.currentTimeMillis();
        try (HikariDataSource pool = config.createPool(); Connection c = pool.getConnection()) {
            c.setAutoCommit(false);
            String registered = plan(c, Sql.register(false, false), xids, xids, branchIds, filled(n, "db"),
                    filled(n, "rm"), filled(n, "{account:x}"), filled(n, "01"), filled(n, (short) BranchStatus.REGISTERED.code()),
                    filled(n, now), filled(n, ""), filled(n, "db"), filled(n, "account"), pks, xids, branchIds,
                    filled(n, now));
            c.commit();
            assertThat(count("cohort_branch")).as("branches registered").isEqualTo(n);
            assertThat(count("cohort_row_lock")).as("rows locked").isEqualTo(n);
            String decided = plan(c, Sql.TRANSITION_GLOBALS, xids, filled(n, (short) GlobalStatus.BEGIN.code()),
                    filled(n, (short) GlobalStatus.ASYNC_COMMITTING.code()), filled(n, ""),
                    filled(n, now), filled(n, 0), filled(n, ChangeCause.TM.code()),
                    filled(n, "db"), filled(n, "account"), pks, xids, "tc-1", 30_000L);
            c.commit();
            assertThat(count("cohort_row_lock")).as("rows locked after the commit decisions").isZero();
            String moved = plan(c, Sql.TRANSITION_GLOBALS, xids,
                    filled(n, (short) GlobalStatus.ASYNC_COMMITTING.code()),
                    filled(n, (short) GlobalStatus.COMMITTED.code()), filled(n, ""),
                    filled(n, now), filled(n, 0), filled(n, ChangeCause.TC.code()),
                    new String[0], new String[0], new String[0], new String[0], "tc-1", 30_000L);
            c.commit();
            assertThat(store.findBranches(xids[0])).as("the branches of an ended transaction").isEmpty();
            try (Connection a = admin.getConnection(); Statement s = a.createStatement();
                    ResultSet rs = s.executeQuery("SELECT count(*) FROM cohort_global_tx WHERE status = "
                            + GlobalStatus.COMMITTED.code() + " AND jsonb_array_length(history) = 2")) {
                rs.next();
                assertThat(rs.getInt(1)).as("moved, each with its two moves").isEqualTo(n);
            }
            assertThat(rowsComparedAndDropped(registered)).as("the registration's plan %s", registered)
                    .isLessThan(n);
            assertThat(rowsComparedAndDropped(decided)).as("the decisions' plan %s", decided).isLessThan(n);
            assertThat(rowsComparedAndDropped(moved)).as("the moves' plan %s", moved).isLessThan(n);
        }
    }

    /** Runs {@code sql} under EXPLAIN ANALYZE on {@code c} (which it changes) and returns the plan (JSON). */
    private static String plan(Connection c, String sql, Object... parameters) throws SQLException {
        try (PreparedStatement explain = c.prepareStatement("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)) {
            for (int i = 0; i < parameters.length; i++) {
                Object p = parameters[i];
                if (p instanceof Object[] array) {
                    explain.setArray(i + 1, c.createArrayOf(ARRAY_TYPES.get(array.getClass().getComponentType()), array));
                } else {
                    explain.setObject(i + 1, p);
                }
            }
            try (ResultSet rs = explain.executeQuery()) {
                rs.next();
                return rs.getString(1);
            }
        }
    }

    /** All rows the plan's joins compared and dropped ("Rows Removed by Join Filter"). */
    private static long rowsComparedAndDropped(String plan) {
        Matcher removed = Pattern.compile("\"Rows Removed by Join Filter\": (\\d+)").matcher(plan);
        long total = 0;
        while (removed.find()) {
            total += Long.parseLong(removed.group(1));
        }
        return total;
    }

    private static Object[] filled(int n, Object value) {
        Object[] array = (Object[]) java.lang.reflect.Array.newInstance(value.getClass(), n);
        Arrays.fill(array, value);
        return array;
    }

    private long count(String table) throws SQLException {
        try (Connection c = admin.getConnection(); Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private void awaitStat(String table, String column, long atLeast) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (stat(table, column) < atLeast && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(100);
        }
        assertThat(stat(table, column)).as("%s of %s reported", column, table).isGreaterThanOrEqualTo(atLeast);
    }

    /** A whole committed transaction with one branch and its row lock, each step its own batch. */
    private void run(String xid, long branchId) throws Exception {
        long now = System.currentTimeMillis();
        store.insertGlobal(new GlobalTransaction(xid, "plans", "app", TransactionProtocol.TWO_PHASE,
                GlobalStatus.BEGIN, now, 60_000, "", "", now)).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        List<String> lockKeys = List.of("account:" + xid);
        assertThat(store.registerBranch(new Branch(xid, branchId, "db", "rm", lockKeys, new byte[] {1},
                BranchStatus.REGISTERED, now, ""), RowKey.expand("db", lockKeys)).get(WAIT.toSeconds(), TimeUnit.SECONDS))
                .isEqualTo(new RegisterResult.Registered(branchId));
        assertThat(store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "")
                .get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        store.releaseLocks(xid).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(store.transitionGlobal(xid, GlobalStatus.COMMITTING, GlobalStatus.COMMITTED, "")
                .get(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        store.deleteBranches(xid).get(WAIT.toSeconds(), TimeUnit.SECONDS);
        assertThat(store.findBranches(xid)).isEmpty(); // read from the database: the transaction has ended
    }

    private void execute(String sql) throws SQLException {
        try (Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /** A counter of {@code table} in pg_stat_user_tables, read fresh (not from this session's snapshot). */
    private long stat(String table, String column) throws SQLException {
        try (Connection c = admin.getConnection(); Statement s = c.createStatement()) {
            s.execute("SELECT pg_stat_clear_snapshot()");
            try (ResultSet rs = s.executeQuery("SELECT " + column
                    + " FROM pg_stat_user_tables WHERE relname = '" + table + "'")) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }
}
