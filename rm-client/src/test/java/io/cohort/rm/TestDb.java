package io.cohort.rm;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.testsupport.TestMariaDb;
import io.cohort.testsupport.TestPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * The server an RM integration test's database lives on, and the few pieces of the tests' own SQL
 * that differ between PostgreSQL and MariaDB/MySQL (the RM's SQL is the dialect's business, not
 * this). A test written against this runs on either, or with one bank on each.
 */
enum TestDb {

    POSTGRES {
        @Override
        boolean available() {
            return true; // TestPostgres falls back to an embedded server
        }

        @Override
        String unavailableReason() {
            return "";
        }

        @Override
        String createDatabase(String prefix) {
            return TestPostgres.get().createDatabase(prefix);
        }

        @Override
        HikariDataSource dataSource(String url, int poolSize) {
            return TestPostgres.get().dataSource(url, poolSize);
        }

        @Override
        String user() {
            return TestPostgres.get().user();
        }

        @Override
        String password() {
            return TestPostgres.get().password();
        }

        @Override
        String ddlResource() {
            return "/db/rm/postgresql.sql";
        }

        @Override
        String epochMillis(String timestampColumn) {
            return "(extract(epoch FROM " + timestampColumn + ") * 1000)::bigint";
        }

        @Override
        String nowMillis() {
            return "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
        }

    },

    MARIADB {
        @Override
        boolean available() {
            return TestMariaDb.available();
        }

        @Override
        String unavailableReason() {
            return TestMariaDb.MISSING;
        }

        @Override
        String createDatabase(String prefix) {
            return TestMariaDb.get().createDatabase(prefix);
        }

        @Override
        HikariDataSource dataSource(String url, int poolSize) {
            return TestMariaDb.get().dataSource(url, poolSize);
        }

        @Override
        String user() {
            return TestMariaDb.get().user();
        }

        @Override
        String password() {
            return TestMariaDb.get().password();
        }

        @Override
        String ddlResource() {
            return "/db/rm/mysql.sql";
        }

        @Override
        String epochMillis(String timestampColumn) {
            return "CAST(FLOOR(UNIX_TIMESTAMP(" + timestampColumn + ") * 1000) AS SIGNED)"; // TIMESTAMP: zone-free
        }

        @Override
        String nowMillis() {
            return epochMillis("SYSDATE(6)");
        }

    };

    abstract boolean available();

    /** Why {@link #available()} is false (for a JUnit assumption). */
    abstract String unavailableReason();

    /** A new, empty database; its JDBC URL. */
    abstract String createDatabase(String prefix);

    abstract HikariDataSource dataSource(String url, int poolSize);

    abstract String user();

    abstract String password();

    /** The RM's DDL on the classpath (sql/rm). */
    abstract String ddlResource();

    /** SQL for a TIMESTAMP column as milliseconds since the epoch (a BIGINT). */
    abstract String epochMillis(String timestampColumn);

    /** SQL for the database's clock now, in milliseconds since the epoch, as {@link #epochMillis} reads columns. */
    abstract String nowMillis();

    /**
     * Whether {@code e}, from a {@code SELECT ... FOR UPDATE NOWAIT}, says another transaction holds the
     * row (PostgreSQL: SQLState 55P03; MariaDB/MySQL: error 1205, lock wait timeout, which NOWAIT gives at once).
     */
    boolean isRowLockedError(SQLException e) {
        return "55P03".equals(e.getSQLState()) || e.getErrorCode() == 1205;
    }

    /**
     * A fresh database with the RM's undo-log and decision tables and an {@code account (id, balance)}
     * table; its pool.
     */
    HikariDataSource createBank(String prefix, int poolSize) throws SQLException {
        HikariDataSource ds = dataSource(createDatabase(prefix), poolSize);
        for (String statement : ddl()) {
            PgFixture.exec(ds, statement);
        }
        PgFixture.exec(ds, "CREATE TABLE account (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)");
        return ds;
    }

    /** The statements of the RM's DDL, one by one (MariaDB's driver runs one statement per call). */
    List<String> ddl() {
        try (InputStream in = TestDb.class.getResourceAsStream(ddlResource())) {
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            if (this == POSTGRES) {
                return List.of(text); // dollar-quoted bodies: one simple-query call
            }
            List<String> out = new ArrayList<>();
            for (String statement : text.split(";")) {
                if (!statement.replaceAll("(?m)^--.*$", "").isBlank()) {
                    out.add(statement);
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Empties {@code tables}. */
    void truncate(DataSource ds, String... tables) throws SQLException {
        for (String table : tables) {
            PgFixture.exec(ds, "TRUNCATE TABLE " + table);
        }
    }

    /** Accounts {@code first} .. {@code first + count - 1}, each with {@code balance}. */
    void insertAccounts(DataSource ds, long first, int count, long balance) throws SQLException {
        StringBuilder sql = new StringBuilder("INSERT INTO account (id, balance) VALUES ");
        for (int i = 0; i < count; i++) {
            sql.append(i == 0 ? "" : ", ").append('(').append(first + i).append(", ").append(balance).append(')');
        }
        PgFixture.exec(ds, sql.toString());
    }
}
