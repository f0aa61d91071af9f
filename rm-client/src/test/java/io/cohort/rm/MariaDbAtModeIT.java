package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import io.cohort.testsupport.TestMariaDb;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link AtModeSuite} on real MariaDB (MariaDB Connector/J; subclasses: its binary protocol, MySQL
 * Connector/J, a MySQL 8 server): every statement shape and every type the RM claims on
 * MySQL/MariaDB, under several session time zones; a rollback restores the tables byte for byte
 * (dumps of every column's bytes, TIMESTAMPs read in UTC); the three-phase vote and redo on every type.
 */
class MariaDbAtModeIT extends AtModeSuite {

    private static final String[] TABLES = {"account", "auto_row", "entry", "matrix"};

    /** The server the suite runs against: the MariaDB server here; a subclass takes MySQL 8. */
    boolean serverAvailable() {
        return TestMariaDb.available();
    }

    String serverMissing() {
        return TestMariaDb.MISSING;
    }

    TestMariaDb server() {
        return TestMariaDb.get();
    }

    /**
     * The JDBC URL the business's pool (and so the RM) uses for the database at {@code mariaDbUrl}:
     * MariaDB Connector/J with its defaults here; subclasses take another driver or other settings.
     */
    String jdbcUrl(String mariaDbUrl) {
        return mariaDbUrl;
    }

    @Override
    HikariDataSource createDatabase() throws Exception {
        Assumptions.assumeTrue(serverAvailable(), serverMissing());
        raw = server().dataSource(jdbcUrl(server().createDatabase("rm_maria")), 8);
        try (InputStream in = MariaDbAtModeIT.class.getResourceAsStream("/db/rm/mysql.sql")) {
            for (String ddl : new String(in.readAllBytes(), StandardCharsets.UTF_8).split(";")) {
                if (!ddl.replaceAll("(?m)^--.*$", "").isBlank()) {
                    exec(ddl);
                }
            }
        }
        exec("""
                CREATE TABLE account (id BIGINT PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance DECIMAL(12,2) NOT NULL,
                                      version INT NOT NULL DEFAULT 0)""");
        exec("CREATE TABLE auto_row (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40))");
        exec("CREATE TABLE entry (book VARCHAR(10), line INT, amount DECIMAL(10,2), PRIMARY KEY (book, line))");
        exec("""
                CREATE TABLE matrix (id INT PRIMARY KEY, c_tiny TINYINT, c_utiny TINYINT UNSIGNED, c_small SMALLINT,
                    c_usmall SMALLINT UNSIGNED, c_medium MEDIUMINT, c_int INT, c_uint INT UNSIGNED, c_big BIGINT,
                    c_ubig BIGINT UNSIGNED, c_dec DECIMAL(65,30), c_float FLOAT, c_double DOUBLE, c_bit BIT(10),
                    c_bool BOOLEAN, c_char CHAR(5), c_varchar VARCHAR(40), c_text TEXT, c_binary BINARY(4),
                    c_varbinary VARBINARY(10), c_blob BLOB, c_date DATE, c_time TIME(6), c_datetime DATETIME(6),
                    c_ts TIMESTAMP(6) NULL, c_year YEAR, c_enum ENUM('a','b','c'), c_set SET('x','y','z'), c_json JSON)""");
        exec("CREATE TABLE binkey (k VARBINARY(8), ts_key TIMESTAMP(6) NOT NULL DEFAULT '2000-01-01 00:00:00', v INT,"
                + " PRIMARY KEY (k, ts_key))");
        exec("CREATE TABLE nopk (a INT, b INT)");
        exec("CREATE TABLE geo (id INT PRIMARY KEY, g POINT)");
        return raw;
    }

    /** Edge values of every type, and a row of NULLs. */
    static final String MATRIX_ROWS = """
            (1, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295, -9223372036854775808,
             18446744073709551615, '-12345678901234567890123456789012345.123456789012345678901234567891',
             0.1, 0.30000000000000004, b'1010000001', TRUE, 'ab', 'emoji 😀 ü ''q''', 'long text 漢字',
             x'00ff', x'00ff10', x'deadbeef00', '2024-02-29', '-838:59:59.000000', '9999-12-31 23:59:59.999999',
             '2038-01-19 03:14:07.999999', 2155, 'b', 'x,z', '{"b": 1,  "a": [1, 2.50]}'),
            (2, 127, 0, 32767, 0, 8388607, 2147483647, 0, 9223372036854775807, 0,
             '12345678901234567890123456789012345.123456789012345678901234567891', 3.40282e38,
             1.7976931348623157e308, b'0', FALSE, '', '', '', x'', x'', x'', '1000-01-01', '838:59:59.999999',
             '1000-01-01 00:00:00.000000', '1970-01-01 00:00:01.000001', 1901, 'a', '', '[]'),
            (3, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1.17549435e-38, 4.9e-324, b'1111111111', NULL, 'z', 'x', 'y', x'01',
             x'01', x'01', '2000-01-01', '00:00:00.000001', '2000-01-01 00:00:00.000001', '2021-03-28 01:30:00.5',
             2000, 'c', 'x,y,z', 'null'),
            (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)""";

    @Override
    void seed() throws SQLException {
        for (String t : List.of("account", "auto_row", "entry", "matrix", "binkey", "nopk", "undo_log",
                "cohort_branch_decision")) {
            exec("TRUNCATE TABLE " + t);
        }
        exec("INSERT INTO account VALUES (1, 'ann', 100.00, 0), (2, 'bob', 200.50, 0), (3, 'cy', 0.00, 0), (4, 'di', 42.42, 0)");
        exec("INSERT INTO auto_row (note) VALUES ('one'), ('two')");
        exec("INSERT INTO entry VALUES ('a', 1, 1.00), ('a', 2, 2.00), ('b', 1, 3.00)");
        exec("INSERT INTO matrix VALUES " + MATRIX_ROWS);
        exec("INSERT INTO binkey VALUES (x'00', '2024-02-29 13:14:15.5', 1), (x'ff01', '1999-12-31 23:59:59.999999', 2)");
        exec("INSERT INTO nopk VALUES (1, 1)");
    }

    /** The driver {@link #jdbcUrl} picks, by the name it gives itself. */
    String expectedDriver() {
        return "MariaDB Connector/J";
    }

    /** Whether {@link #jdbcUrl} makes the driver prepare statements on the server (the binary protocol). */
    boolean serverPrepared() {
        return false;
    }

    /** The suite runs with the driver and protocol it claims to (a wrong URL would pass silently otherwise). */
    @Test
    void theBusinessPoolUsesTheDriverAndProtocolUnderTest() throws Exception {
        try (Connection c = raw.getConnection()) {
            assertThat(c.getMetaData().getDriverName()).contains(expectedDriver());
            long before = sessionStatus(c, "Com_stmt_prepare");
            for (int i = 0; i < 2; i++) {
                try (PreparedStatement ps = c.prepareStatement("SELECT id FROM account WHERE id = ?")) {
                    ps.setLong(1, 1);
                    try (ResultSet rs = ps.executeQuery()) {
                        assertThat(rs.next()).isTrue();
                    }
                }
            }
            assertThat(sessionStatus(c, "Com_stmt_prepare") > before).as("prepared on the server").isEqualTo(serverPrepared());
        }
    }

    private static long sessionStatus(Connection c, String name) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SHOW SESSION STATUS LIKE '" + name + "'")) {
            assertThat(rs.next()).isTrue();
            return rs.getLong(2);
        }
    }

    // ---- statement shapes ----

    @Override
    Stream<Named<GlobalWork.Work>> shapes() {
        Map<String, GlobalWork.Work> m = new LinkedHashMap<>();
        m.put("insert one row with parameters", c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO account (id, owner, balance) VALUES (?, ?, ?)")) {
                ps.setLong(1, 10);
                ps.setString(2, "eve");
                ps.setBigDecimal(3, new java.math.BigDecimal("5.55"));
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
        });
        m.put("insert several rows as literals, backticks", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("INSERT INTO `account` VALUES (11, 'f', 1, 0), (12, 'g', 2, 0)")).isEqualTo(2);
            }
        });
        m.put("insert with a composite key", c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO entry (book, line, amount) VALUES (?, 1, 9), (?, 2, 8)")) {
                ps.setString(1, "z");
                ps.setString(2, "z");
                assertThat(ps.executeUpdate()).isEqualTo(2);
            }
        });
        m.put("insert with generated keys, several rows", c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO auto_row (note) VALUES (?), (?), (?)",
                    Statement.RETURN_GENERATED_KEYS)) {
                ps.setString(1, "x");
                ps.setString(2, "y");
                ps.setString(3, "z");
                assertThat(ps.executeUpdate()).isEqualTo(3);
                try (ResultSet keys = ps.getGeneratedKeys()) {
                    assertThat(keys.next()).isTrue();
                    assertThat(keys.getLong(1)).isEqualTo(3);
                }
            }
        });
        m.put("insert from a select with an auto-increment key", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("INSERT INTO auto_row (note) SELECT owner FROM account WHERE id < 3")).isEqualTo(2);
            }
        });
        m.put("insert the whole type matrix", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("INSERT INTO matrix VALUES " + MATRIX_ROWS.replace("(1,", "(11,")
                        .replace("(2,", "(12,").replace("(3,", "(13,").replace("(4,", "(14,"))).isEqualTo(4);
            }
        });
        m.put("update by primary key with an expression", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE account SET balance = balance - ?, version = version + 1 WHERE id = ?")) {
                ps.setBigDecimal(1, new java.math.BigDecimal("30.00"));
                ps.setLong(2, 1);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
        });
        m.put("update several rows with an alias", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("UPDATE account a SET a.owner = CONCAT(a.owner, '!') WHERE a.balance > 1")).isEqualTo(3);
            }
        });
        m.put("update every type to another row's values", c -> {
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE matrix SET c_tiny = 5, c_ubig = 1, c_dec = 0.5, c_float = 2.5, c_double = 1e-300,"
                        + " c_bit = b'1', c_bool = FALSE, c_char = 'q', c_varchar = '😀😀', c_text = NULL, c_binary = x'ff',"
                        + " c_varbinary = x'', c_blob = x'00', c_date = '2001-01-01', c_time = '-00:00:01.5',"
                        + " c_datetime = '2001-01-01 01:01:01', c_ts = '2001-01-01 01:01:01.25', c_year = 1999, c_enum = NULL,"
                        + " c_set = 'y', c_json = '{\"k\": \"v\"}' WHERE id IN (1, 2, 3, 4)");
            }
        });
        m.put("update binary and timestamp keys' rows", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("UPDATE binkey SET v = v + 10")).isEqualTo(2);
            }
        });
        m.put("delete by primary key", c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM account WHERE id = ?")) {
                ps.setLong(1, 2);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
        });
        m.put("delete every type", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("DELETE FROM matrix")).isEqualTo(4);
                assertThat(s.executeUpdate("DELETE FROM binkey")).isEqualTo(2);
            }
        });
        m.put("several statements on several tables", c -> {
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE account SET balance = 0 WHERE id = 4");
                s.executeUpdate("DELETE FROM entry WHERE book = 'a'");
                s.executeUpdate("INSERT INTO auto_row (note) VALUES ('new')");
                s.executeUpdate("UPDATE auto_row SET note = 'changed'");
            }
        });
        return m.entrySet().stream().map(e -> Named.of(e.getKey(), e.getValue()));
    }

    /**
     * The business session's time zone moves how TIMESTAMPs read and write in it; the images and the
     * rollback (on the RM's connections, which the pool hands back with that zone set) must not move.
     */
    @ParameterizedTest
    @ValueSource(strings = {"+00:00", "+05:30", "-08:00", "SYSTEM"})
    void everyTypeRollsBackExactlyUnderEverySessionTimeZone(String zone) throws Exception {
        Map<String, List<String>> before = snapshot();
        String xid = runInGlobal(c -> {
            try (Statement s = c.createStatement()) {
                s.execute("SET time_zone = '" + zone + "'");
                s.executeUpdate("UPDATE matrix SET c_ts = '2030-06-01 12:00:00.123456', c_float = 1.0000001 WHERE id IN (1, 3)");
                s.executeUpdate("UPDATE binkey SET v = 0 WHERE k = x'00'");
                s.executeUpdate("INSERT INTO binkey VALUES (x'01', '2024-02-29 13:14:15.5', 3)");
                s.executeUpdate("DELETE FROM matrix WHERE id = 2");
                s.executeUpdate("INSERT INTO matrix (id, c_ts) VALUES (20, '2001-02-03 04:05:06.7')");
            }
        }, false);
        assertThat(snapshot()).isNotEqualTo(before);

        assertThat(tc.rollbackAndWait(xid)).as(tc.tm().status(xid).getReason()).isEqualTo(GlobalStatus.ROLLBACKED);

        assertThat(snapshot()).isEqualTo(before);
    }

    // ---- three-phase commit: the vote and redo read and write the images too ----

    /** Every type, written under another time zone than phase 2's: the 3PC vote finds the after images, the commit keeps them. */
    @Test
    void threePhaseCommitVotesYesOnEveryTypeAndKeepsIt() throws Exception {
        String xid = tc.tm().begin("rm-it", Duration.ofSeconds(60), TransactionProtocol.THREE_PHASE);
        begun.add(xid);
        runInGlobal(xid, THREE_PHASE_WORK, false);
        Map<String, List<String>> written = snapshot();

        assertThat(tc.commitAndWait(xid)).as(tc.tm().status(xid).getReason()).isEqualTo(GlobalStatus.COMMITTED);

        assertThat(snapshot()).isEqualTo(written);
        rm.flushUndoDeletes();
        assertThat(count("SELECT count(*) FROM undo_log WHERE log_status <> 1")).isZero();
    }

    /**
     * The TC's repair of a three-phase split: the RM rolled the branch back on its own (as the
     * termination monitor does, on a connection in yet another time zone), the outcome was commit:
     * redo writes the after images back, byte for byte.
     */
    @Test
    void redoWritesTheAfterImagesBackExactly() throws Exception {
        useUndoLogRows(); // the RM's own rollback, as the termination monitor does it, reads the row
        Map<String, List<String>> original = snapshot();
        String xid = runInGlobal(THREE_PHASE_WORK, false);
        Map<String, List<String>> written = snapshot();
        List<Long> branches = tc.branchIds(xid).stream().distinct().toList();
        assertThat(branches).isNotEmpty();

        for (long branchId : branches) {
            rollBackAlone(xid, branchId);
        }
        assertThat(snapshot()).as("after the RM's own rollback").isEqualTo(original);

        for (long branchId : branches) {
            BranchResult redone = RmInternals.handle(rm, BranchCommand.newBuilder().setRequestId(1).setXid(xid)
                    .setBranchId(branchId).setResourceId(rm.resourceIds().get(0)).setAction(BranchAction.REDO).build());
            assertThat(redone.getStatus()).as(redone.getReason()).isEqualTo(BranchStatus.PHASE2_COMMITTED.toWire());
        }
        assertThat(snapshot()).as("after redo").isEqualTo(written);
        assertThat(tc.commitAndWait(xid)).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(snapshot()).isEqualTo(written);
    }

    private static final GlobalWork.Work THREE_PHASE_WORK = c -> {
        try (Statement s = c.createStatement()) {
            s.execute("SET time_zone = '+05:30'");
            s.executeUpdate("UPDATE matrix SET c_ts = '2030-06-01 12:00:00.123456', c_float = 1.0000001, c_bit = b'11',"
                    + " c_varbinary = x'0102', c_varchar = '😀' WHERE id IN (1, 3, 4)");
            s.executeUpdate("DELETE FROM matrix WHERE id = 2");
            s.executeUpdate("INSERT INTO matrix (id, c_ubig, c_dec, c_double, c_ts, c_json, c_set, c_binary, c_time)"
                    + " VALUES (22, 18446744073709551615, '0.000000000000000000000000000001', 4.9e-324,"
                    + " '1970-01-02 00:00:01.000001', '{\"x\": [1]}', 'x,z', x'00', '-838:59:59')");
            s.executeUpdate("UPDATE binkey SET v = 0 WHERE k = x'00'");
            s.executeUpdate("INSERT INTO auto_row (note) VALUES ('a'), ('b')");
        }
    };

    private void rollBackAlone(String xid, long branchId) throws SQLException {
        try (Connection c = raw.getConnection()) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute("SET time_zone = '-08:00'");
            }
            GlobalWork.rollBackAlone(rm, rm.resourceIds().get(0), c, xid, branchId);
            c.commit();
        }
    }

    // ---- refusals ----

    @Override
    Stream<Named<String[]>> unsupported() {
        return Stream.of(
                new String[] {"UPDATE nopk SET b = 2", "has no primary key"},
                new String[] {"UPDATE account SET id = 9 WHERE id = 1", "changes primary-key column id"},
                new String[] {"UPDATE account a JOIN entry e ON e.line = a.id SET a.balance = 0", "multi-table UPDATE"},
                new String[] {"DELETE a FROM account a JOIN entry e ON e.line = a.id", "multi-table DELETE"},
                new String[] {"INSERT INTO account VALUES (1, 'x', 0, 0) ON DUPLICATE KEY UPDATE balance = 0", "ON DUPLICATE KEY"},
                new String[] {"REPLACE INTO account VALUES (1, 'x', 0, 0)", "REPLACE"},
                new String[] {"INSERT IGNORE INTO account VALUES (1, 'x', 0, 0)", "INSERT IGNORE"},
                new String[] {"INSERT INTO account (id, owner, balance) VALUES (1 + 100, 'x', 0)", "not a literal or parameter"},
                new String[] {"INSERT INTO account (id, owner, balance) SELECT id + 100, owner, 0 FROM account", "from a SELECT"},
                new String[] {"INSERT INTO auto_row VALUES (NULL, 'x')", "not a literal or parameter"},
                new String[] {"UPDATE geo SET g = POINT(1, 1)", "column g of geo has type point"},
                new String[] {"DELETE FROM account WHERE id = 1 RETURNING id", "RETURNING"},
                new String[] {"ALTER TABLE account ADD COLUMN x INT", "DDL"},
                new String[] {"UPDATE account SET balance = 0 WHERE id = 1; DELETE FROM account", "more than one statement"})
                .map(s -> Named.of(s[0], s));
    }

    // ---- helpers ----

    @Override
    String quote(String identifier) {
        return "`" + identifier + "`";
    }

    @Override
    String notNullViolation() {
        return "23000";
    }

    /**
     * Sessions of this database, other than this one, running a statement for over 100 ms: in the
     * tests that ask, only a read waiting for a row lock does. Neither {@code innodb_trx} nor the
     * statement's text tells it: MariaDB waits for a row lock of a read by primary key while it plans
     * the query (state "Statistics"), before InnoDB lists the transaction as waiting, and a server-side
     * prepared statement's execution shows no text.
     */
    @Override
    long sessionsWaitingForARowLock() throws SQLException {
        return count("SELECT count(*) FROM information_schema.processlist WHERE db = DATABASE()"
                + " AND command <> 'Sleep' AND id <> CONNECTION_ID() AND time_ms > 100");
    }

    /** Runs {@code sql} outside the RM in UTC (the pool may hand back a connection a test left in another zone). */
    @Override
    void exec(String sql) throws SQLException {
        try (Connection c = raw.getConnection(); Statement s = c.createStatement()) {
            c.setAutoCommit(true);
            s.execute("SET time_zone = '+00:00'");
            s.execute(sql);
        }
    }

    /**
     * Every row of the tables as the stored bytes of each column, read by the server itself (so the
     * driver's rendering plays no part): strings and binaries as their bytes, numbers, dates and
     * times as their full text, FLOAT and DOUBLE through DOUBLE's exact text, TIMESTAMPs in UTC.
     */
    @Override
    Map<String, List<String>> snapshot() throws SQLException {
        Map<String, List<String>> out = new LinkedHashMap<>();
        try (Connection c = raw.getConnection(); Statement s = c.createStatement()) {
            s.execute("SET time_zone = '+00:00'");
            for (String table : List.of(TABLES[0], TABLES[1], TABLES[2], TABLES[3], "binkey")) {
                List<String> columns = new ArrayList<>();
                try (ResultSet rs = s.executeQuery("SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
                        + "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '" + table + "' ORDER BY ORDINAL_POSITION")) {
                    while (rs.next()) {
                        String col = "`" + rs.getString(1) + "`";
                        String type = rs.getString(2).toLowerCase();
                        String bytes = switch (type) {
                            case "float", "double" -> "HEX(CAST(" + col + " + 0e0 AS CHAR))";
                            case "bit" -> "HEX(" + col + " + 0)";
                            case "char", "varchar", "text", "longtext", "binary", "varbinary", "blob", "enum", "set" ->
                                    "HEX(" + col + ")";
                            default -> "HEX(CAST(" + col + " AS CHAR))";
                        };
                        columns.add("COALESCE(" + bytes + ", 'NULL')");
                    }
                }
                List<String> rows = new ArrayList<>();
                try (ResultSet rs = s.executeQuery("SELECT CONCAT_WS('|', " + String.join(", ", columns) + ") FROM "
                        + table + " ORDER BY 1")) {
                    while (rs.next()) {
                        rows.add(rs.getString(1));
                    }
                }
                out.put(table, rows);
            }
            s.execute("SET time_zone = DEFAULT");
        }
        return out;
    }
}
