package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.protocol.GlobalStatus;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.testsupport.TestPostgres;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The RM's one-round-trip phase 1 on PostgreSQL ({@code INSERT INTO undo_log ...; COMMIT}, see
 * {@code PostgresDialect.thenCommit}) under the pgJDBC options users set: automatic savepoints, the
 * simple and extended-for-prepared query modes, and prepare thresholds. Each option runs the AT path
 * (global commit, global rollback, a statement that fails inside the branch, caught or not) more
 * times than pgJDBC's prepare threshold, so the later rounds run server-prepared, and checks after each:
 * committed data and no undo row; rolled back to the exact old rows, no undo row, no global lock; and
 * that the driver still knows where its transaction is (a local rollback on the same session undoes).
 * The pool holds one connection, so every round and every check runs on the same database session.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PgDriverOptionsIT {

    /** More than pgJDBC's default prepareThreshold (5): the last rounds run as named server-side statements. */
    private static final int ROUNDS = 7;

    private String dbUrl;
    private TcHarness tc;

    @BeforeAll
    void start() throws Exception {
        dbUrl = PgFixture.createDatabase("rm_pg_options");
        try (HikariDataSource setup = TestPostgres.get().dataSource(dbUrl, 1)) {
            PgFixture.applyUndoLogDdl(setup);
            PgFixture.exec(setup, "CREATE TABLE account (id bigint PRIMARY KEY, owner text NOT NULL,"
                    + " balance numeric(12,2) NOT NULL)");
            // Test-only: a phase 1 that opts in (SET LOCAL cohort_test.fail_undo = on) has its undo-log insert
            // fail as when a rollback's marker got there first, inside the INSERT ...; COMMIT round trip.
            PgFixture.exec(setup, """
                    CREATE FUNCTION fail_undo_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                      IF current_setting('cohort_test.fail_undo', true) = 'on' THEN
                        RAISE unique_violation USING MESSAGE = 'test: undo-log row already there';
                      END IF;
                      RETURN NEW;
                    END $$;
                    CREATE TRIGGER fail_undo BEFORE INSERT ON undo_log FOR EACH ROW EXECUTE FUNCTION fail_undo_insert();
                    """);
        }
        tc = TcHarness.start();
    }

    @AfterAll
    void stop() throws SQLException {
        if (tc != null) {
            tc.close();
        }
        String name = dbUrl.substring(dbUrl.lastIndexOf('/') + 1);
        try (Connection c = DriverManager.getConnection(dbUrl.substring(0, dbUrl.lastIndexOf('/') + 1) + "postgres",
                TestPostgres.get().user(), TestPostgres.get().password()); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        }
    }

    /** The options, and whether the RM's undo-log insert ends up a named server-side statement under them. */
    static Stream<Named<Object[]>> options() {
        return Stream.of(
                option("pgJDBC defaults", "", true),
                option("autosave=always", "autosave=always", true),
                option("autosave=conservative", "autosave=conservative", true),
                option("preferQueryMode=simple", "preferQueryMode=simple", false),
                option("preferQueryMode=extendedForPrepared", "preferQueryMode=extendedForPrepared", true),
                option("preferQueryMode=extendedCacheEverything", "preferQueryMode=extendedCacheEverything", true),
                option("prepareThreshold=0", "prepareThreshold=0", false),
                option("prepareThreshold=1", "prepareThreshold=1", true),
                option("autosave=always with prepareThreshold=1", "autosave=always&prepareThreshold=1", true),
                option("autosave=always with preferQueryMode=simple", "autosave=always&preferQueryMode=simple", false));
    }

    private static Named<Object[]> option(String name, String query, boolean serverPrepared) {
        return Named.of(name, new Object[] {query, serverPrepared});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("options")
    void theAtPathKeepsItsInvariantsUnderTheDriverOption(Object[] option) throws Exception {
        String query = (String) option[0];
        boolean serverPrepared = (Boolean) option[1];
        try (HikariDataSource raw = TestPostgres.get().dataSource(query.isEmpty() ? dbUrl : dbUrl + "?" + query, 1)) {
            PgFixture.exec(raw, "TRUNCATE account, undo_log; INSERT INTO account VALUES (1, 'ann', 100.00), (2, 'bob', 200.00)");
            ResourceManager rm = ResourceManager.builder(BranchCoordinator.of(tc.freshTm()))
                    .config(RmConfig.defaults().withLockRetry(Duration.ofMillis(2), 3)).build();
            try {
                DataSource ds = rm.wrap(raw);
                rm.connect(tc.tcConfig("rm-pg-options-it"), 2);
                assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).as("RM stream welcomed by the TC").isTrue();
                for (int round = 1; round <= ROUNDS; round++) {
                    Rounds r = new Rounds(raw, ds, rm, round);
                    r.commit();
                    r.rollback();
                    r.failingStatement();
                    r.failingStatementCaughtThenCommit();
                    r.undoInsertFails();
                }
                // The mode under test is the one in effect: after the warm-up the insert is (or is not) server-prepared.
                assertThat(PgFixture.count(raw, "SELECT count(*) FROM pg_prepared_statements"
                        + " WHERE statement LIKE 'INSERT INTO undo_log%'"))
                        .as("named server-side undo-log inserts on the session").isEqualTo(serverPrepared ? 1 : 0);
            } finally {
                rm.close();
            }
        }
    }

    /** One round of the AT path on the session, each case checking its invariants. */
    private final class Rounds {
        private final HikariDataSource raw;
        private final DataSource ds;
        private final ResourceManager rm;
        private final int round;

        Rounds(HikariDataSource raw, DataSource ds, ResourceManager rm, int round) {
            this.raw = raw;
            this.ds = ds;
            this.rm = rm;
            this.round = round;
        }

        void commit() throws Exception {
            String xid = tc.begin(Duration.ofSeconds(60));
            GlobalWork.run(ds, xid, c -> {
                credit(c, 1, "1.00");
                insert(c, 100 + round);
            }, false);
            List<List<String>> phaseOne = rows();
            assertThat(tc.commitAndWait(xid)).as(what("commit")).isEqualTo(GlobalStatus.COMMITTED);
            rm.flushUndoDeletes();
            assertThat(rows()).as(what("rows after commit")).isEqualTo(phaseOne)
                    .contains(List.of("id=" + (100 + round), "owner=new", "balance=1.00"))
                    .contains(List.of("id=1", "owner=ann", "balance=" + new BigDecimal("100.00").add(BigDecimal.valueOf(round))));
            assertThat(undoRows()).as(what("undo rows after commit")).isZero();
            assertThat(tc.lockCount()).as(what("global locks after commit")).isZero();
            localRollbackUndoes();
        }

        void rollback() throws Exception {
            List<List<String>> before = rows();
            String xid = tc.begin(Duration.ofSeconds(60));
            GlobalWork.run(ds, xid, c -> {
                credit(c, 2, "5.00");
                insert(c, 200 + round);
                try (Statement s = c.createStatement()) {
                    s.executeUpdate("DELETE FROM account WHERE id = " + (100 + round));
                }
            }, false);
            assertThat(rows()).as(what("rows after phase 1")).isNotEqualTo(before);
            assertThat(tc.rollbackAndWait(xid)).as(what("rollback")).isEqualTo(GlobalStatus.ROLLBACKED);
            assertUndone(before, "rollback");
            localRollbackUndoes();
        }

        /** Not caught: the application's local transaction rolls back, the global one is doomed and ends rolled back. */
        void failingStatement() throws Exception {
            List<List<String>> before = rows();
            String xid = tc.begin(Duration.ofSeconds(60));
            assertThatThrownBy(() -> GlobalWork.run(ds, xid, c -> {
                credit(c, 1, "3.00");
                notNullViolation(c);
            }, false)).as(what("failing statement")).isInstanceOf(SQLException.class)
                    .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("23502"));
            assertThat(tc.awaitEnded(xid, Duration.ofSeconds(20)).getStatus()).as(what("doomed transaction"))
                    .isEqualTo(GlobalStatus.ROLLBACKED.toWire());
            assertUndone(before, "failed statement");
            localRollbackUndoes();
        }

        /**
         * Caught, then the application commits anyway: with autosave the driver has rolled back to its
         * savepoint and the transaction goes on; without, it is aborted. Either way the global
         * transaction was doomed by the failure, and nothing of the branch may stay.
         */
        void failingStatementCaughtThenCommit() throws Exception {
            List<List<String>> before = rows();
            String xid = tc.begin(Duration.ofSeconds(60));
            try {
                GlobalWork.run(ds, xid, c -> {
                    credit(c, 2, "7.00");
                    try {
                        notNullViolation(c);
                    } catch (SQLException expected) {
                        assertThat(expected.getSQLState()).isEqualTo("23502");
                    }
                }, false);
            } catch (SQLException refused) {
                // the local commit may be refused (aborted transaction, or a branch the TC will not register)
            }
            assertThat(tc.awaitEnded(xid, Duration.ofSeconds(20)).getStatus()).as(what("doomed transaction"))
                    .isEqualTo(GlobalStatus.ROLLBACKED.toWire());
            assertUndone(before, "failed statement caught");
            localRollbackUndoes();
        }

        /**
         * The undo-log insert of {@code INSERT ...; COMMIT} fails: the server skips the COMMIT, the RM rolls
         * the local transaction back and says the branch was already rolled back; nothing stays.
         */
        void undoInsertFails() throws Exception {
            List<List<String>> before = rows();
            String xid = tc.begin(Duration.ofSeconds(60));
            assertThatThrownBy(() -> GlobalWork.run(ds, xid, c -> {
                try (Statement s = c.createStatement()) {
                    s.execute("SELECT set_config('cohort_test.fail_undo', 'on', true)");
                }
                credit(c, 1, "9.00");
                insert(c, 300 + round);
            }, false)).as(what("failing undo-log insert")).isInstanceOf(SQLException.class)
                    .hasMessageContaining("already rolled back");
            assertThat(tc.rollbackAndWait(xid)).as(what("rollback after a failed phase 1")).isEqualTo(GlobalStatus.ROLLBACKED);
            assertUndone(before, "failed undo-log insert");
            localRollbackUndoes();
        }

        /**
         * The driver's idea of the transaction matches the server's after a COMMIT it did not send: a
         * local transaction on the same session (the pool has one) still starts with BEGIN, so its
         * rollback undoes it.
         */
        private void localRollbackUndoes() throws SQLException {
            List<List<String>> before = rows();
            try (Connection c = ds.getConnection()) {
                c.setAutoCommit(false);
                credit(c, 1, "1000.00");
                c.rollback();
                c.setAutoCommit(true);
            }
            assertThat(rows()).as(what("rows after a local rollback on the same session")).isEqualTo(before);
        }

        private void assertUndone(List<List<String>> before, String what) throws SQLException {
            assertThat(rows()).as(what(what + ": rows")).isEqualTo(before);
            assertThat(undoRows()).as(what(what + ": undo rows")).isZero();
            assertThat(tc.lockCount()).as(what(what + ": global locks")).isZero();
        }

        private String what(String what) {
            return what + " in round " + round;
        }

        private List<List<String>> rows() throws SQLException {
            return PgFixture.rows(raw, "account", "id");
        }

        private long undoRows() throws SQLException {
            return PgFixture.count(raw, "SELECT count(*) FROM undo_log");
        }
    }

    private static void credit(Connection c, long id, String amount) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE account SET balance = balance + ? WHERE id = ?")) {
            ps.setBigDecimal(1, new BigDecimal(amount));
            ps.setLong(2, id);
            assertThat(ps.executeUpdate()).isEqualTo(1);
        }
    }

    private static void insert(Connection c, long id) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO account (id, owner, balance) VALUES (?, ?, ?)")) {
            ps.setLong(1, id);
            ps.setString(2, "new");
            ps.setBigDecimal(3, BigDecimal.ONE);
            assertThat(ps.executeUpdate()).isEqualTo(1);
        }
    }

    private static void notNullViolation(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE account SET owner = ? WHERE id = ?")) {
            ps.setString(1, null);
            ps.setLong(2, 1);
            ps.executeUpdate();
        }
    }
}
