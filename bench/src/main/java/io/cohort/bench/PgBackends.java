package io.cohort.bench;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/**
 * A fresh database for a TC on the PostgreSQL store, and what its PostgreSQL side costs: the CPU of
 * the client backends connected to that database (read as {@link BenchDatabase.Postgres#processes}
 * does, so the server must run on this machine; 0 otherwise) and the transactions committed in it.
 * Backends of other databases on a shared server are not counted; the server's background processes
 * (WAL writer, checkpointer) are not either.
 */
record PgBackends(String url, String user, String password, String database) {

    /** Drops and creates {@code database} on the server {@code anyUrl} points at. */
    static PgBackends freshDatabase(String anyUrl, String user, String password, String database) throws SQLException {
        String server = anyUrl.substring(0, anyUrl.indexOf('/', anyUrl.indexOf("//") + 2) + 1);
        try (Connection c = DriverManager.getConnection(anyUrl, user, password); Statement s = c.createStatement()) {
            s.execute("drop database if exists " + database + " with (force)");
            s.execute("create database " + database);
        }
        return new PgBackends(server + database, user, password, database);
    }

    /** User + system CPU of the client backends connected to the database now. */
    long cpuNanos() {
        try {
            return BenchDatabase.Postgres.processes(url, user, password, List.of(database)).backends();
        } catch (SQLException e) {
            return 0;
        }
    }

    /**
     * Rows inserted, updated, deleted and HOT-updated so far in the database's tables, summed (its
     * statistics lag up to half a second): PostgreSQL's work per global transaction, whatever the load.
     */
    long[] tuples() {
        try (Connection c = DriverManager.getConnection(url, user, password);
             PreparedStatement ps = c.prepareStatement("select coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0),"
                     + " coalesce(sum(n_tup_del), 0), coalesce(sum(n_tup_hot_upd), 0) from pg_stat_user_tables");
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            return new long[] {rs.getLong(1), rs.getLong(2), rs.getLong(3), rs.getLong(4)};
        } catch (SQLException e) {
            return new long[4];
        }
    }

    /** Transactions committed in the database so far (its statistics lag up to half a second). */
    long commits() {
        try (Connection c = DriverManager.getConnection(url, user, password);
             PreparedStatement ps = c.prepareStatement("select xact_commit from pg_stat_database where datname = ?")) {
            ps.setString(1, database);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        } catch (SQLException e) {
            return 0;
        }
    }
}
