package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import io.cohort.testsupport.TestPostgres;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.StringJoiner;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.postgresql.PGConnection;

/**
 * Every PostgreSQL type the RM claims, with its edge values ({@code type-matrix.sql}), through the
 * whole AT path — global commit, rollback, the three-phase vote, redo, and the dirty-write check —
 * under every way pgJDBC can transfer results: its defaults (a statement turns server-prepared and
 * binary at its 5th execution on a connection, so every statement here runs more than five times
 * per connection), {@code prepareThreshold=0} (never prepared, as behind PgBouncer),
 * {@code prepareThreshold=-1} (binary from the first execution) and {@code binaryTransfer=false}.
 * The business connection also uses another time zone than the RM's phase-2 connections. Tables
 * are compared byte for byte with {@code COPY ... TO STDOUT} dumps, text and binary.
 *
 * <p>One TC process for the class; each test has its own database and RM.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TypeMatrixIT {

    enum Mode {
        DRIVER_DEFAULTS(""),
        NEVER_PREPARED("?prepareThreshold=0"),
        ALWAYS_BINARY("?prepareThreshold=-1"),
        TEXT_ONLY("?binaryTransfer=false");

        final String urlSuffix;

        Mode(String urlSuffix) {
            this.urlSuffix = urlSuffix;
        }
    }

    /** Rows the work updates (1-6) and deletes (11-16); rows 31-36 are inserted from the shadow rows 21-26. */
    private static final int ROWS = 6;
    private static final Duration END = Duration.ofSeconds(30);
    private static final AtomicInteger RESOURCES = new AtomicInteger();

    private TcHarness tc;

    @BeforeAll
    void start() {
        tc = TcHarness.start();
    }

    /** Each test's own TM client, on which its fixture's RM registers its branches. */
    @BeforeEach
    void freshTm() {
        tc.freshTm();
    }

    @AfterAll
    void stop() {
        if (tc != null) {
            tc.close();
        }
    }

    // ---- the four paths ----

    @ParameterizedTest
    @EnumSource(Mode.class)
    void aRepeatedRollbackRestoresEveryValueByteForByte(Mode mode) throws Exception {
        try (Fixture f = new Fixture(mode)) {
            f.seed();
            Dump original = f.dump();
            for (int run = 1; run <= 7; run++) {
                String xid = f.begin(TransactionProtocol.TWO_PHASE);
                f.work(xid);
                assertThat(f.dump().text).as("run %d changed the tables", run).isNotEqualTo(original.text);

                assertThat(tc.rollbackAndWait(xid)).as("run %d: %s", run, reason(xid)).isEqualTo(GlobalStatus.ROLLBACKED);

                f.dump().assertSameAs(original, "after rollback " + run);
                assertThat(PgFixture.count(f.admin, "SELECT count(*) FROM undo_log WHERE log_status <> 1")).isZero();
            }
            assertThat(tc.lockCount()).isZero();
        }
    }

    @ParameterizedTest
    @EnumSource(Mode.class)
    void commitAndTheThreePhaseVoteKeepEveryValueByteForByte(Mode mode) throws Exception {
        try (Fixture f = new Fixture(mode)) {
            for (TransactionProtocol protocol : List.of(TransactionProtocol.TWO_PHASE, TransactionProtocol.THREE_PHASE,
                    TransactionProtocol.THREE_PHASE, TransactionProtocol.THREE_PHASE)) {
                f.seed();
                String xid = f.begin(protocol);
                f.work(xid);
                Dump written = f.dump();

                assertThat(tc.commitAndWait(xid)).as("%s: %s", protocol, reason(xid)).isEqualTo(GlobalStatus.COMMITTED);

                f.dump().assertSameAs(written, "after " + protocol + " commit");
                f.rm.flushUndoDeletes();
                assertThat(PgFixture.count(f.admin, "SELECT count(*) FROM undo_log WHERE log_status <> 1")).isZero();
            }
            assertThat(tc.lockCount()).isZero();
        }
    }

    /**
     * The TC's repair of a three-phase split: the RM rolled the branch back on its own (done here as
     * the termination monitor does it: the undo executor in one local transaction, then log_status
     * ROLLED_BACK_ALONE), the outcome was commit, so the after images are written again.
     */
    @ParameterizedTest
    @EnumSource(Mode.class)
    void redoWritesTheAfterImagesBackByteForByte(Mode mode) throws Exception {
        try (Fixture f = new Fixture(mode)) {
            for (int run = 1; run <= 2; run++) {
                f.seed();
                Dump original = f.dump();
                String xid = f.begin(TransactionProtocol.TWO_PHASE);
                f.work(xid);
                Dump written = f.dump();
                List<Long> branches = tc.branchIds(xid).stream().distinct().toList();
                assertThat(branches).isNotEmpty();

                for (long branchId : branches) {
                    f.rollBackAlone(xid, branchId);
                }
                f.dump().assertSameAs(original, "after the RM's own rollback");

                for (long branchId : branches) {
                    BranchResult redone = f.command(xid, branchId, BranchAction.REDO);
                    assertThat(redone.getStatus()).as(redone.getReason()).isEqualTo(BranchStatus.PHASE2_COMMITTED.toWire());
                }
                f.dump().assertSameAs(written, "after redo");

                assertThat(tc.commitAndWait(xid)).as(reason(xid)).isEqualTo(GlobalStatus.COMMITTED);
                f.dump().assertSameAs(written, "after commit");
            }
        }
    }

    /**
     * Writes from outside that PostgreSQL's own {@code =} might call equal, or that only change how a
     * value is written: the rollback must still see them, stop, and touch nothing.
     */
    @ParameterizedTest
    @EnumSource(Mode.class)
    void aWriteOutsideTheGlobalTransactionIsCaughtEvenWhenItOnlyChangesTheRepresentation(Mode mode) throws Exception {
        // Row 6 holds template row 1 after the work, row 5 holds template row 6.
        String[][] twins = {
                {"c_timetz", "UPDATE matrix SET c_timetz = c_timetz AT TIME ZONE 'UTC' WHERE id = 6"},
                {"c_int_arr", "UPDATE matrix SET c_int_arr = '{7,8}' WHERE id = 6"},
                {"c_num", "UPDATE matrix SET c_num = 1.5 WHERE id = 6"},
                {"c_double", "UPDATE matrix SET c_double = 0 WHERE id = 5"},
                {"c_json", "UPDATE matrix SET c_json = '{\"b\": 1, \"a\": [1, 2]}' WHERE id = 6"}};
        try (Fixture f = new Fixture(mode)) {
            for (String[] twin : twins) {
                f.seed();
                Dump original = f.dump();
                String xid = f.begin(TransactionProtocol.TWO_PHASE);
                f.work(xid);
                PgFixture.exec(f.admin, "TRUNCATE saved; INSERT INTO saved SELECT * FROM matrix");
                PgFixture.exec(f.admin, twin[1]);
                Dump dirty = f.dump();
                assertThat(dirty.binary).as("the outside write changed the stored value").isNotEqualTo(f.dumpOf(
                        "SELECT * FROM saved ORDER BY id").binary);

                tc.tm().rollback(xid);
                GlobalStatus ended = GlobalStatus.fromWire(tc.awaitEnded(xid, END).getStatus());

                assertThat(ended).as(reason(xid)).isEqualTo(GlobalStatus.ROLLBACK_FAILED);
                assertThat(reason(xid)).contains("dirty write on matrix").contains(twin[0] + "=");
                f.dump().assertSameAs(dirty, "after the refused rollback (" + twin[0] + ")");

                // A person puts the after image back and retries: the rollback completes, exactly.
                PgFixture.exec(f.admin, "UPDATE matrix m SET " + twin[0] + " = s." + twin[0] + " FROM saved s WHERE s.id = m.id");
                tc.post("/api/v1/transactions/" + xid + "/rollback");
                awaitStatus(xid, GlobalStatus.ROLLBACKED);
                f.dump().assertSameAs(original, "after the retried rollback (" + twin[0] + ")");
            }

            // The three-phase vote sees it too, before anything is decided.
            f.seed();
            String xid = f.begin(TransactionProtocol.THREE_PHASE);
            f.work(xid);
            PgFixture.exec(f.admin, "TRUNCATE saved; INSERT INTO saved SELECT * FROM matrix");
            PgFixture.exec(f.admin, twins[0][1]);
            tc.tm().commit(xid);
            // Voted no, so rolled back, and the rollback stops at the same dirty write.
            assertThat(tc.awaitEnded(xid, END).getStatus()).as(reason(xid)).isEqualTo(GlobalStatus.ROLLBACK_FAILED.toWire());
            assertThat(f.dumpOf("SELECT c_timetz FROM matrix WHERE id = 6").text).isEqualTo("07:44:15.123456+00\n");
            PgFixture.exec(f.admin, "UPDATE matrix m SET c_timetz = s.c_timetz FROM saved s WHERE s.id = m.id");
            tc.post("/api/v1/transactions/" + xid + "/rollback");
            awaitStatus(xid, GlobalStatus.ROLLBACKED);
            assertThat(tc.lockCount()).isZero();
        }
    }

    @Test
    void typesTheRmCannotRestoreExactlyAreRefusedAtStatementTimeNamingColumnAndType() throws Exception {
        try (Fixture f = new Fixture(Mode.DRIVER_DEFAULTS)) {
            PgFixture.exec(f.admin, """
                    CREATE TYPE priced AS (label text, price money);
                    CREATE TABLE wallet (id int PRIMARY KEY, cash money, note text);
                    CREATE TABLE basket (id int PRIMARY KEY, items priced[]);
                    CREATE TABLE wal (id int PRIMARY KEY, lsn pg_lsn);
                    INSERT INTO wallet VALUES (1, 12.34, 'n');
                    INSERT INTO basket VALUES (1, ARRAY[ROW('a', 1.5)::priced]);
                    INSERT INTO wal VALUES (1, '16/B374D848');
                    """);
            String[][] refused = {
                    {"UPDATE wallet SET note = 'm' WHERE id = 1", "wallet", "cash", "money"},
                    {"DELETE FROM wallet WHERE id = 1", "wallet", "cash", "money"},
                    {"INSERT INTO wallet VALUES (2, 1, 'x')", "wallet", "cash", "money"},
                    {"UPDATE basket SET items = '{}' WHERE id = 1", "basket", "items", "money"},
                    {"DELETE FROM wal WHERE id = 1", "wal", "lsn", "pg_lsn"}};
            String before = f.dumpOf("SELECT * FROM wallet, basket, wal").text;
            for (String[] r : refused) {
                String xid = f.begin(TransactionProtocol.TWO_PHASE);
                assertThatThrownBy(() -> f.run(xid, c -> c.createStatement().executeUpdate(r[0])))
                        .as(r[0])
                        .isInstanceOf(UnsupportedStatementException.class)
                        .hasMessageContaining("column " + r[2] + " of " + r[1])
                        .hasMessageContaining(r[3])
                        .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
                assertThat(tc.branchIds(xid)).isEmpty();
                assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
            }
            assertThat(f.dumpOf("SELECT * FROM wallet, basket, wal").text).isEqualTo(before);

            // Outside a global transaction the RM stays out of the way.
            try (Connection c = f.ds.getConnection()) {
                assertThat(c.createStatement().executeUpdate("UPDATE wallet SET cash = cash + 1::money")).isEqualTo(1);
            }
        }
    }

    /** Undo logs of format 1 held the driver's renderings (base64 bytea, ISO times, true/false): still undone exactly. */
    @Test
    void anUndoLogWrittenBeforeImagesWereTheServersTextIsStillUndoneExactly() throws Exception {
        try (Fixture f = new Fixture(Mode.DRIVER_DEFAULTS)) {
            PgFixture.exec(f.admin, """
                    CREATE TABLE legacy (id bigint PRIMARY KEY, b bytea, flag boolean, at timestamptz, t time, r real);
                    INSERT INTO legacy VALUES (1, '\\x01', false, '2024-01-01 11:00:00+00', '11:00', 2.2);
                    """);
            String expected = f.dumpOf("SELECT 1::bigint, '\\x00ff10'::bytea, true, '2024-01-01 10:00:00+00'::timestamptz,"
                    + " '10:00'::time, 1.1::real").text;
            String columns = "[{\"name\":\"id\",\"type\":\"BIGINT\"},{\"name\":\"b\",\"type\":\"BINARY\"},"
                    + "{\"name\":\"flag\",\"type\":\"BOOLEAN\"},{\"name\":\"at\",\"type\":\"TIMESTAMP_WITH_TIMEZONE\"},"
                    + "{\"name\":\"t\",\"type\":\"TIME\"},{\"name\":\"r\",\"type\":\"REAL\"}]";
            byte[] v1 = ("J{\"v\":1,\"records\":[{\"op\":\"UPDATE\",\"schema\":\"public\",\"table\":\"legacy\",\"columns\":"
                    + columns + ",\"pk\":[\"id\"],"
                    + "\"before\":[[\"1\",\"AP8Q\",\"true\",\"2024-01-01T10:00Z\",\"10:00\",\"1.100000023841858\"]],"
                    + "\"after\":[[\"1\",\"AQ==\",\"false\",\"2024-01-01T11:00Z\",\"11:00\",\"2.200000047683716\"]]}]}")
                    .getBytes(StandardCharsets.UTF_8);
            try (Connection c = f.raw.getConnection()) {
                c.setAutoCommit(false);
                RmInternals.Applied undone = RmInternals.rollBackImages(f.rm, f.resourceId, c, "legacy-xid", 1, v1);
                assertThat(undone.status()).as(undone.reason()).isEqualTo(BranchStatus.PHASE2_ROLLBACKED);
                c.commit();
            }
            assertThat(f.dumpOf("SELECT * FROM legacy").text).isEqualTo(expected);
        }
    }

    // ---- helpers ----

    private String reason(String xid) {
        return tc.tm().status(xid).getReason();
    }

    private void awaitStatus(String xid, GlobalStatus expected) {
        tc.awaitStatus(xid, expected, END);
    }

    /** A database with the type matrix, a data source in one pgJDBC mode, and an RM over it. */
    private final class Fixture implements AutoCloseable {

        /** In the test's pgJDBC mode: what the RM wraps (phase 1) and uses itself (phase 2). */
        final HikariDataSource raw;
        /** Driver defaults, for the test's own DDL, seeding, outside writes and dumps. */
        final HikariDataSource admin;
        final ResourceManager rm;
        final DataSource ds;
        final String resourceId;
        final String columns;
        final String copyFromShadow;
        final List<String> begun = new ArrayList<>();

        Fixture(Mode mode) throws Exception {
            String url = PgFixture.createDatabase("rm_types_" + mode.name());
            // Two connections, so statements repeat on the same connections, phase 1 and phase 2 alike.
            raw = TestPostgres.get().dataSource(url + mode.urlSuffix, 2);
            admin = TestPostgres.get().dataSource(url, 2);
            PgFixture.applyUndoLogDdl(admin);
            try (InputStream in = TypeMatrixIT.class.getResourceAsStream("/type-matrix.sql")) {
                PgFixture.exec(admin, new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
            List<String> names = new ArrayList<>();
            try (Connection c = admin.getConnection(); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT attname FROM pg_attribute WHERE attrelid = 'matrix'::regclass"
                         + " AND attnum > 1 AND NOT attisdropped ORDER BY attnum")) {
                while (rs.next()) {
                    names.add(rs.getString(1));
                }
            }
            columns = String.join(", ", names);
            StringJoiner set = new StringJoiner(", ");
            for (String n : names) {
                set.add(n + " = (SELECT " + n + " FROM shadow s WHERE s.id = matrix.id + 20)");
            }
            copyFromShadow = "UPDATE matrix SET " + set + " WHERE id = ?";
            rm = ResourceManager.builder(BranchCoordinator.of(tc.tm())).config(RmConfig.defaults()).build();
            resourceId = "types-" + mode.name().toLowerCase() + "-" + RESOURCES.incrementAndGet();
            ds = rm.wrap(raw, resourceId);
            rm.connect(tc.tcConfig("rm-types-it"), 2);
            assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).as("RM stream welcomed by the TC").isTrue();
        }

        /** matrix: the template rows as 1-6 and again as 11-16; shadow 21-26: template rows 2-6, then 1. */
        void seed() throws SQLException {
            PgFixture.exec(admin, "TRUNCATE matrix, shadow, saved, by_time, undo_log;"
                    + "INSERT INTO matrix SELECT * FROM template;"
                    + "INSERT INTO matrix SELECT id + 10, " + columns + " FROM template;"
                    + "INSERT INTO shadow SELECT CASE WHEN id = 1 THEN 26 ELSE 19 + id END, " + columns + " FROM template;"
                    + "INSERT INTO by_time VALUES ('infinity', 1, 0), ('-infinity', 2, 0),"
                    + " ('0044-03-15 12:00:00+00 BC', 3, 0), ('2024-02-29 13:14:15.123456+05:30', 4, 0)");
        }

        String begin(TransactionProtocol protocol) {
            String xid = tc.tm().begin("types", Duration.ofSeconds(120), protocol);
            begun.add(xid);
            return xid;
        }

        /**
         * One branch: every column of rows 1-6 rewritten from the shadow rows, the same rows updated
         * again (one statement, one RETURNING statement per row, a batch of 50), rows 11-16 deleted
         * one by one, the shadow rows inserted, and rows of a timestamptz-keyed table updated twice.
         * In another session time zone than phase 2's.
         */
        void work(String xid) throws SQLException {
            run(xid, c -> {
                try (Statement s = c.createStatement()) {
                    s.execute("SET LOCAL TIME ZONE 'Asia/Kathmandu'");
                }
                try (PreparedStatement ps = c.prepareStatement(copyFromShadow)) {
                    for (int id = 1; id <= ROWS; id++) {
                        ps.setInt(1, id);
                        assertThat(ps.executeUpdate()).isEqualTo(1);
                    }
                }
                try (PreparedStatement ps = c.prepareStatement("UPDATE matrix SET touched = touched + 1 WHERE id <= ?")) {
                    ps.setInt(1, ROWS);
                    assertThat(ps.executeUpdate()).isEqualTo(ROWS);
                }
                try (PreparedStatement ps = c.prepareStatement(
                        "UPDATE matrix SET touched = touched + 1 WHERE id = ? RETURNING id")) {
                    for (int id = 1; id <= ROWS; id++) {
                        ps.setInt(1, id);
                        try (ResultSet rs = ps.executeQuery()) {
                            assertThat(rs.next()).isTrue();
                        }
                    }
                }
                try (PreparedStatement ps = c.prepareStatement("UPDATE matrix SET touched = touched + 1 WHERE id = ?")) {
                    for (int i = 0; i < 50; i++) {
                        ps.setInt(1, i % ROWS + 1);
                        ps.addBatch();
                    }
                    assertThat(ps.executeBatch()).hasSize(50).containsOnly(1);
                }
                try (PreparedStatement ps = c.prepareStatement("DELETE FROM matrix WHERE id = ?")) {
                    for (int id = 11; id <= 10 + ROWS; id++) {
                        ps.setInt(1, id);
                        assertThat(ps.executeUpdate()).isEqualTo(1);
                    }
                }
                try (Statement s = c.createStatement()) {
                    assertThat(s.executeUpdate("INSERT INTO matrix SELECT id + 10, " + columns + " FROM shadow"))
                            .isEqualTo(ROWS);
                }
                try (PreparedStatement ps = c.prepareStatement("UPDATE by_time SET v = v + 1 WHERE seq = ?")) {
                    for (int i = 0; i < 8; i++) {
                        ps.setInt(1, i % 4 + 1);
                        assertThat(ps.executeUpdate()).isEqualTo(1);
                    }
                }
            });
        }

        void run(String xid, GlobalWork.SqlWork work) throws SQLException {
            GlobalWork.inTransaction(ds, xid, work);
        }

        void rollBackAlone(String xid, long branchId) throws SQLException {
            try (Connection c = raw.getConnection()) {
                c.setAutoCommit(false);
                GlobalWork.rollBackAlone(rm, resourceId, c, xid, branchId);
                c.commit();
            }
        }

        BranchResult command(String xid, long branchId, BranchAction action) {
            return RmInternals.handle(rm, BranchCommand.newBuilder().setRequestId(1).setXid(xid).setBranchId(branchId)
                    .setResourceId(resourceId).setAction(action).build());
        }

        Dump dump() throws SQLException, IOException {
            Dump matrix = dumpOf("SELECT * FROM matrix ORDER BY id");
            Dump byTime = dumpOf("SELECT * FROM by_time ORDER BY seq");
            ByteArrayOutputStream binary = new ByteArrayOutputStream();
            binary.writeBytes(matrix.binary);
            binary.writeBytes(byTime.binary);
            return new Dump(matrix.text + byTime.text, binary.toByteArray());
        }

        /** {@code COPY (query) TO STDOUT}, as text and in binary format, on a connection in the driver's default time zone. */
        Dump dumpOf(String query) throws SQLException, IOException {
            try (Connection c = admin.getConnection()) {
                var copy = c.unwrap(PGConnection.class).getCopyAPI();
                ByteArrayOutputStream text = new ByteArrayOutputStream();
                copy.copyOut("COPY (" + query + ") TO STDOUT", text);
                ByteArrayOutputStream binary = new ByteArrayOutputStream();
                copy.copyOut("COPY (" + query + ") TO STDOUT (FORMAT binary)", binary);
                return new Dump(text.toString(StandardCharsets.UTF_8), binary.toByteArray());
            }
        }

        @Override
        public void close() {
            try {
                for (String xid : begun) {
                    if (tc.status(xid) == GlobalStatus.BEGIN) {
                        tc.rollbackAndWait(xid);
                    }
                }
            } finally {
                rm.close();
                raw.close();
                admin.close();
            }
        }
    }

    private record Dump(String text, byte[] binary) {

        void assertSameAs(Dump expected, String when) {
            assertThat(text).as("COPY text dump " + when).isEqualTo(expected.text);
            assertThat(Arrays.equals(binary, expected.binary)).as("COPY binary dump " + when + " is byte-for-byte equal")
                    .isTrue();
        }
    }
}
