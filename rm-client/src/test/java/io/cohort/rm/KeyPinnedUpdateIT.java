package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.testsupport.TestPostgres;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The one-round-trip branch of a key-pinned autocommit UPDATE ({@code cohort.rm.key-pinned-autocommit-updates})
 * on real PostgreSQL and a real TC: which statements take it (the row is not yet locked in the
 * database when the branch registers), rollback restoring every column type exactly past pgJDBC's
 * switch to binary transfer, an UPDATE of no row, a statement failing after its registration, lock
 * conflicts and serialization with the usual path on the same row (the lock keys are identical), and
 * dirty writes. The RM's pool holds two connections; a thread gets back the one it used last (HikariCP), so
 * the rounds of one test run on one database session.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KeyPinnedUpdateIT {

    /** More than pgJDBC's prepareThreshold (5): the later rounds run server-prepared, in binary. */
    private static final int ROUNDS = 8;
    private static final String ROW = "SELECT kp::text FROM kp WHERE id = ";

    private HikariDataSource raw;
    private HikariDataSource pool;
    private TcHarness tc;
    private ResourceManager rm;
    private DataSource ds;
    private final List<String> begun = new ArrayList<>();
    /** Per registration of the RM under test: whether the row it locks was free in the database at that moment. */
    private final List<Boolean> rowFreeAtRegistration = new ArrayList<>();
    private volatile CountDownLatch registering = new CountDownLatch(0);

    @BeforeAll
    void start() throws Exception {
        String url = PgFixture.createDatabase("rm_key_pinned");
        raw = TestPostgres.get().dataSource(url, 4);
        pool = TestPostgres.get().dataSource(url, 2);
        PgFixture.applyUndoLogDdl(raw);
        PgFixture.exec(raw, """
                CREATE TABLE kp (id bigint PRIMARY KEY, n numeric(14,4), t text NOT NULL, ts timestamptz, b bytea,
                                 flag boolean, f float8, note text);
                CREATE TABLE small (id int PRIMARY KEY, v int NOT NULL);
                CREATE TABLE pair (a int, b int, v int, PRIMARY KEY (a, b));
                CREATE TABLE named (k text PRIMARY KEY, v int);
                """);
        tc = TcHarness.start();
    }

    @AfterAll
    void stop() {
        if (tc != null) {
            tc.close();
        }
        pool.close();
        raw.close();
    }

    @BeforeEach
    void connect() throws SQLException {
        PgFixture.exec(raw, """
                TRUNCATE kp, small, pair, named, undo_log;
                INSERT INTO kp VALUES (1, 12.3400, 'it''s "one"', '2024-02-29 13:14:15.123456+00', '\\x00ff', true,
                                       0.1, NULL),
                                      (2, -0.0001, E'line\\nbreak ü 😀', NULL, NULL, NULL, 'NaN', 'n');
                INSERT INTO small VALUES (1, 10), (2, 20);
                INSERT INTO pair VALUES (1, 1, 11);
                INSERT INTO named VALUES ('a', 1);
                """);
        useRm(true, 30);
    }

    /** Replaces the RM under test: {@code keyPinned} the setting, {@code lockAttempts} 20 ms apart and up. */
    private void useRm(boolean keyPinned, int lockAttempts) {
        if (rm != null) {
            rm.close();
        }
        rm = rm(keyPinned, lockAttempts);
        ds = rm.wrap(pool);
        rm.connect(tc.tcConfig("rm-key-pinned-it"), 2);
        assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).isTrue();
    }

    private ResourceManager rm(boolean keyPinned, int lockAttempts) {
        BranchCoordinator watching = new ForwardingBranchCoordinator(BranchCoordinator.of(tc.freshTm())) {
            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         long branchId) {
                rowFreeAtRegistration.add(rowsFree(lockKeys));
                registering.countDown();
                return super.registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs, branchId);
            }
        };
        ResourceManager m = ResourceManager.builder(watching)
                .config(RmConfig.defaults().withLockRetry(Duration.ofMillis(20), lockAttempts)
                        .withKeyPinnedAutocommitUpdates(keyPinned))
                .build();
        return m;
    }

    /** Whether the rows of lock keys {@code table:id} are unlocked in the database (NOWAIT from another session). */
    private boolean rowsFree(List<String> lockKeys) {
        String key = lockKeys.get(0);
        String table = key.substring(0, key.indexOf(':'));
        if (table.equals("pair") || table.equals("named")) {
            return true; // only the single integer keys are probed
        }
        try (Connection c = raw.getConnection(); Statement s = c.createStatement()) {
            s.execute("SELECT 1 FROM " + table + " WHERE id IN (" + key.substring(key.indexOf(':') + 1) + ") FOR UPDATE NOWAIT");
            return true;
        } catch (SQLException e) {
            if ("55P03".equals(e.getSQLState())) {
                return false;
            }
            throw new IllegalStateException(e);
        }
    }

    @AfterEach
    void everyTransactionEndsClean() throws SQLException {
        try {
            for (String xid : begun) {
                if (tc.status(xid) == GlobalStatus.BEGIN) {
                    tc.rollbackAndWait(xid);
                }
                assertThat(tc.awaitEnded(xid, Duration.ofSeconds(20)).getStatus()).isIn(GlobalStatus.COMMITTED.toWire(),
                        GlobalStatus.ROLLBACKED.toWire());
            }
            rm.flushUndoDeletes();
            assertThat(tc.lockCount()).as("global locks left").isZero();
            assertThat(count("SELECT count(*) FROM undo_log")).as("undo logs or markers left").isZero();
        } finally {
            begun.clear();
            rowFreeAtRegistration.clear();
            rm.close();
            rm = null;
        }
    }

    private String begin() {
        String xid = tc.begin(Duration.ofSeconds(60));
        begun.add(xid);
        return xid;
    }

    private long count(String sql) throws SQLException {
        return PgFixture.count(raw, sql);
    }

    private String row(long id) throws SQLException {
        try (Connection c = raw.getConnection(); Statement s = c.createStatement();
             var rs = s.executeQuery(ROW + id)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    private static final String UPDATE_ALL = "UPDATE kp SET n = ?, t = ?, ts = ?, b = ?, flag = ?, f = ?, note = ? WHERE id = ?";

    /** Binds new values of every type, round {@code r}, and the key. */
    private static int updateAll(Connection c, long id, int r) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(UPDATE_ALL)) {
            ps.setBigDecimal(1, new BigDecimal("98765.4321").add(BigDecimal.valueOf(r)));
            ps.setString(2, "round " + r + " 'q' \"dq\" \\ \n\t ü 😀");
            ps.setObject(3, OffsetDateTime.parse("2025-01-01T00:00:00.000001+02:00").plusDays(r));
            ps.setBytes(4, new byte[] {0, (byte) r, (byte) 0xff, '"', '\\'});
            ps.setBoolean(5, r % 2 == 0);
            ps.setDouble(6, 1.0 / 3 + r);
            ps.setString(7, r % 3 == 0 ? null : "note " + r);
            ps.setLong(8, id);
            return ps.executeUpdate();
        }
    }

    @Test
    void rollbackRestoresEveryTypeExactlyPastTheBinarySwitch() throws Exception {
        String before1 = row(1);
        String before2 = row(2);
        for (int r = 1; r <= ROUNDS; r++) {
            int round = r;
            String xid = begin();
            GlobalWork.run(ds, xid, c -> {
                assertThat(updateAll(c, 1, round)).isEqualTo(1);
                assertThat(updateAll(c, 2, round)).isEqualTo(1);
            }, true);
            assertThat(tc.branchIds(xid)).hasSize(2);
            assertThat(count("SELECT count(*) FROM undo_log WHERE log_status = 0 AND xid = '" + xid + "'")).isEqualTo(2);
            assertThat(row(1)).contains("round " + round);
            if (round % 2 == 0) {
                String after1 = row(1);
                assertThat(tc.commitAndWait(xid)).isEqualTo(GlobalStatus.COMMITTED);
                assertThat(row(1)).isEqualTo(after1);
                before1 = row(1);
                before2 = row(2);
            } else {
                assertThat(tc.rollbackAndWait(xid)).as(tc.tm().status(xid).getReason()).isEqualTo(GlobalStatus.ROLLBACKED);
                assertThat(row(1)).isEqualTo(before1);
                assertThat(row(2)).isEqualTo(before2);
            }
        }
        assertThat(rowFreeAtRegistration).as("every branch registered before its UPDATE ran").hasSize(2 * ROUNDS)
                .containsOnly(true);
    }

    @Test
    void theUsualPathLocksTheRowBeforeItRegisters() throws Exception {
        useRm(false, 30);
        String before = row(1);
        String xid = begin();
        GlobalWork.run(ds, xid, c -> assertThat(updateAll(c, 1, 1)).isEqualTo(1), true);
        assertThat(rowFreeAtRegistration).containsExactly(false);
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(row(1)).isEqualTo(before);
    }

    @Test
    void onlyKeyPinnedIntegerKeysTakeTheOneRoundTrip() throws Exception {
        String xid = begin();
        GlobalWork.run(ds, xid, c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("UPDATE small SET v = v + 1 WHERE id = 1 AND v >= 0")).isEqualTo(1); // literal, AND-ed
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE small SET v = v + 1 WHERE id = ?")) {
                ps.setObject(1, 2); // an Integer through setObject
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE small SET v = v + 1 WHERE id = ?")) {
                ps.setBigDecimal(1, BigDecimal.ONE); // not a Java integer: the usual path
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("UPDATE small SET v = v + 1 WHERE id = 1 OR id = 2")).isEqualTo(2);
                assertThat(s.executeUpdate("UPDATE small SET v = v + 1 WHERE id = 01")).isEqualTo(1); // not canonical
            }
        }, true);
        assertThat(rowFreeAtRegistration).containsExactly(true, true, false, false, false);
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(count("SELECT count(*) FROM small WHERE (id, v) IN ((1, 10), (2, 20))")).isEqualTo(2);
    }

    @Test
    void compositeAndTextKeysKeepTheUsualPath() throws Exception {
        String xid = begin();
        GlobalWork.run(ds, xid, c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("UPDATE pair SET v = 12 WHERE a = 1 AND b = 1")).isEqualTo(1);
                assertThat(s.executeUpdate("UPDATE named SET v = 2 WHERE k = 'a'")).isEqualTo(1);
            }
        }, true);
        assertThat(tc.branchIds(xid)).hasSize(2);
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(count("SELECT count(*) FROM pair WHERE v = 11")).isEqualTo(1);
        assertThat(count("SELECT count(*) FROM named WHERE v = 1")).isEqualTo(1);
    }

    @Test
    void anUpdateOfNoRowEndsCleanEitherWay() throws Exception {
        for (boolean commit : new boolean[] {true, false}) {
            String xid = begin();
            GlobalWork.run(ds, xid, c -> {
                try (PreparedStatement ps = c.prepareStatement("UPDATE small SET v = 0 WHERE id = ?")) {
                    ps.setLong(1, 99);
                    assertThat(ps.executeUpdate()).isZero();
                }
            }, true);
            assertThat(tc.branchIds(xid)).hasSize(1);
            assertThat(commit ? tc.commitAndWait(xid) : tc.rollbackAndWait(xid))
                    .isEqualTo(commit ? GlobalStatus.COMMITTED : GlobalStatus.ROLLBACKED);
            rm.flushUndoDeletes();
            assertThat(count("SELECT count(*) FROM undo_log")).as("undo log or marker").isZero();
            assertThat(tc.lockCount()).isZero();
        }
        assertThat(count("SELECT count(*) FROM small WHERE (id, v) IN ((1, 10), (2, 20))")).isEqualTo(2);
    }

    @Test
    void aStatementFailingAfterItsRegistrationRollsTheGlobalTransactionBack() throws Exception {
        String before1 = row(1);
        String before2 = row(2);
        String xid = begin();
        assertThatThrownBy(() -> GlobalWork.run(ds, xid, c -> {
            assertThat(updateAll(c, 2, 1)).isEqualTo(1);
            try (PreparedStatement ps = c.prepareStatement("UPDATE kp SET t = ? WHERE id = ?")) {
                ps.setString(1, null);
                ps.setLong(2, 1);
                ps.executeUpdate();
            }
        }, true)).isInstanceOf(SQLException.class)
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("23502"));
        GlobalStatusResponse ended = tc.awaitEnded(xid, Duration.ofSeconds(20));
        assertThat(ended.getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(ended.getReason()).contains("rollback-only");
        assertThat(row(1)).isEqualTo(before1);
        assertThat(row(2)).isEqualTo(before2);
    }

    @Test
    void aRefusedRegistrationFailsAsOnTheUsualPath() throws Exception {
        useRm(true, 2);
        String holder = begin();
        GlobalWork.run(ds, holder, c -> c.createStatement().executeUpdate("UPDATE small SET v = 1 WHERE id = 1"), false);
        String xid = begin();
        assertThatThrownBy(() -> GlobalWork.run(ds, xid,
                c -> c.createStatement().executeUpdate("UPDATE small SET v = 2 WHERE id = 1"), true))
                .isInstanceOf(GlobalLockConflictException.class)
                .hasMessageContaining("small:1").hasMessageContaining(holder);
        assertThat(rowFreeAtRegistration).containsExactly(false, true);
        GlobalStatusResponse doomed = tc.awaitEnded(xid, Duration.ofSeconds(20));
        assertThat(doomed.getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(doomed.getReason()).contains("rollback-only").contains(holder);
        assertThat(tc.commitAndWait(holder)).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(count("SELECT v FROM small WHERE id = 1")).isEqualTo(1);
    }

    /**
     * The two paths on one row, in two global transactions, each way round: the second waits at the TC
     * for the first's lock (so the lock keys are the same text) and runs once the first has committed.
     */
    @Test
    void theOneRoundTripAndTheUsualPathSerializeOnTheSameRow() throws Exception {
        for (boolean keyPinnedFirst : new boolean[] {true, false}) {
            String first = begin();
            GlobalWork.run(ds, first, c -> {
                try (PreparedStatement ps = c.prepareStatement("UPDATE small SET v = v * 2 WHERE id = ?")) {
                    ps.setLong(1, 1);
                    ps.executeUpdate();
                }
            }, keyPinnedFirst);
            String second = begin();
            registering = new CountDownLatch(1);
            CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> {
                try {
                    GlobalWork.run(ds, second, c -> {
                        try (PreparedStatement ps = c.prepareStatement("UPDATE small SET v = v + 1 WHERE id = ?")) {
                            ps.setLong(1, 1);
                            ps.executeUpdate();
                        }
                    }, !keyPinnedFirst);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            assertThat(registering.await(20, TimeUnit.SECONDS)).isTrue();
            // The TC holds the second registration while the first holds the row (its budget is 8.3 s).
            assertThat(waiting).isNotDone();
            long v = count("SELECT v FROM small WHERE id = 1");
            assertThat(tc.commitAndWait(first)).isEqualTo(GlobalStatus.COMMITTED);
            waiting.get(20, TimeUnit.SECONDS);
            assertThat(count("SELECT v FROM small WHERE id = 1")).isEqualTo(v + 1);
            assertThat(tc.rollbackAndWait(second)).isEqualTo(GlobalStatus.ROLLBACKED);
            assertThat(count("SELECT v FROM small WHERE id = 1")).isEqualTo(v);
        }
        assertThat(count("SELECT v FROM small WHERE id = 1")).isEqualTo(40);
    }

    /**
     * The one case the two paths do not serialize without a failure: a usual-path branch holds the row
     * in PostgreSQL (updated, not yet registered) while a one-round-trip branch registers first and
     * then waits for that row. The usual one then waits at the TC for the other's global lock until its
     * lock-wait budget runs out, and fails as on any conflict; the one-round-trip branch goes on.
     */
    @Test
    void aUsualBranchHoldingTheRowWhileAOneRoundTripBranchRegistersGivesWayAfterItsBudget() throws Exception {
        useRm(true, 5); // budget 20 + 40 + 80 + 160 ms
        String usual = begin();
        String pinned = begin();
        String previous = XidContext.bind(usual);
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            c.createStatement().executeUpdate("UPDATE small SET v = 100 WHERE id IN (1)"); // the usual path
            registering = new CountDownLatch(1);
            CompletableFuture<Void> oneRoundTrip = CompletableFuture.runAsync(() -> {
                try {
                    GlobalWork.run(ds, pinned, s -> s.createStatement().executeUpdate("UPDATE small SET v = 7 WHERE id = 1"),
                            true);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            assertThat(registering.await(20, TimeUnit.SECONDS)).isTrue();
            TcHarness.await(() -> count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    + " AND wait_event_type = 'Lock'") == 1, Duration.ofSeconds(20), () -> "the one-round-trip UPDATE waits");
            assertThatThrownBy(c::commit).isInstanceOf(GlobalLockConflictException.class).hasMessageContaining(pinned);
            oneRoundTrip.get(20, TimeUnit.SECONDS);
        } finally {
            XidContext.restore(previous);
        }
        assertThat(count("SELECT v FROM small WHERE id = 1")).isEqualTo(7);
        assertThat(tc.awaitEnded(usual, Duration.ofSeconds(20)).getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(tc.commitAndWait(pinned)).isEqualTo(GlobalStatus.COMMITTED);
    }

    /** Under three-phase commit the branch's undo log is written as three-phase; the vote reads it and the row commits or is restored. */
    @Test
    void aThreePhaseBranchVotesCommitsAndRollsBack() throws Exception {
        for (boolean commit : new boolean[] {true, false}) {
            String xid = tc.tm().begin("key-pinned-3pc", Duration.ofSeconds(60), TransactionProtocol.THREE_PHASE);
            begun.add(xid);
            GlobalWork.run(ds, xid, c -> c.createStatement().executeUpdate("UPDATE small SET v = v + 5 WHERE id = 2"), true);
            assertThat(rowFreeAtRegistration).last().isEqualTo(true);
            assertThat(count("SELECT log_status FROM undo_log WHERE xid = '" + xid + "'")).isEqualTo(2); // THREE_PHASE
            assertThat(commit ? tc.commitAndWait(xid) : tc.rollbackAndWait(xid))
                    .isEqualTo(commit ? GlobalStatus.COMMITTED : GlobalStatus.ROLLBACKED);
            assertThat(count("SELECT v FROM small WHERE id = 2")).isEqualTo(25);
        }
    }

    @Test
    void aDirtyWriteStillStopsTheRollback() throws Exception {
        String xid = begin();
        GlobalWork.run(ds, xid, c -> c.createStatement().executeUpdate("UPDATE small SET v = 1 WHERE id = 2"), true);
        PgFixture.exec(raw, "UPDATE small SET v = 5 WHERE id = 2"); // outside the global transaction
        tc.tm().rollback(xid);
        GlobalStatusResponse ended = tc.awaitEnded(xid, Duration.ofSeconds(20));
        assertThat(GlobalStatus.fromWire(ended.getStatus())).isEqualTo(GlobalStatus.ROLLBACK_FAILED);
        assertThat(ended.getReason()).contains("small pk 2").contains("v=5 (expected 1)");
        assertThat(count("SELECT v FROM small WHERE id = 2")).isEqualTo(5);
        // A person puts the after image back and retries: the rollback completes.
        PgFixture.exec(raw, "UPDATE small SET v = 1 WHERE id = 2");
        tc.post("/api/v1/transactions/" + xid + "/rollback");
        TcHarness.await(() -> tc.status(xid) == GlobalStatus.ROLLBACKED, Duration.ofSeconds(20), () -> "rolled back");
        assertThat(count("SELECT v FROM small WHERE id = 2")).isEqualTo(20);
    }
}
