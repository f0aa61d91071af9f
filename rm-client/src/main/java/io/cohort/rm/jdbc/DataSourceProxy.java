package io.cohort.rm.jdbc;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.Statement;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * The application's {@link DataSource}, wrapped: every connection is a {@link ConnectionProxy}.
 * Created by {@link ResourceManager#wrap}.
 */
public final class DataSourceProxy implements DataSource {

    private final DataSource target;
    private final Resource resource;

    DataSourceProxy(DataSource target, Resource resource) {
        this.target = target;
        this.resource = resource;
    }

    Resource resource() {
        return resource;
    }

    /** The data source this one wraps: its connections take no part in global transactions. */
    public DataSource target() {
        return target;
    }

    /** The id this database is registered under at the TC (the normalised JDBC URL unless set). */
    public String resourceId() {
        return resource.resourceId();
    }

    /**
     * The script under {@code sql/rm/} (and {@code db/rm/} in rm-client.jar) that creates the RM's
     * tables in this database: {@code postgresql.sql} or {@code mysql.sql}. Asks the database which
     * it is if it was not reachable when wrapped.
     */
    public String rmSchemaScript() {
        return resource.dialect().ddlScript();
    }

    /**
     * The first part of the RM's schema missing from this database, as a phrase ("table undo_log"):
     * the undo log, the unique key its batched statements look branches up in (MySQL/MariaDB, which
     * name it: {@link Dialect#undoLogByBranchKeys}), then the 3PC decision table, as configured; empty
     * when all exist. Checked on a connection of {@link #target()}.
     *
     * @throws SQLException when the database cannot be asked (other than "no such table" or "no such key")
     */
    public Optional<String> missingRmSchema() throws SQLException {
        Dialect dialect = resource.dialect();
        String undoTable = resource.config().undoTable();
        String decisionTable = resource.config().decisionTable();
        try (Connection connection = target.getConnection()) {
            // The undo log as the batched statements name it: a missing table and a missing key both fail here.
            Optional<SQLException> undo = failureOf(connection, dialect.undoLogByBranchKeys(undoTable));
            if (undo.isPresent()) {
                if (dialect.isUndefinedTable(undo.get())) {
                    return Optional.of("table " + undoTable);
                }
                if (dialect.isUnknownIndex(undo.get())) {
                    return Optional.of("unique key " + dialect.undoLogBranchKey() + " (xid, branch_id) on table "
                            + undoTable + " (its name matters: the RM's batched statements name it)");
                }
                throw undo.get();
            }
            Optional<SQLException> decisions = failureOf(connection, decisionTable);
            if (decisions.isPresent()) {
                if (dialect.isUndefinedTable(decisions.get())) {
                    return Optional.of("table " + decisionTable);
                }
                throw decisions.get();
            }
        }
        return Optional.empty();
    }

    /** Why reading nothing from {@code from} fails; empty when it does not. */
    private static Optional<SQLException> failureOf(Connection connection, String from) {
        try (Statement statement = connection.createStatement()) {
            statement.execute("SELECT 1 FROM " + from + " WHERE 1 = 0");
            return Optional.empty();
        } catch (SQLException e) {
            return Optional.of(e);
        }
    }

    @Override
    public Connection getConnection() throws SQLException {
        return new ConnectionProxy(target.getConnection(), resource);
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        return new ConnectionProxy(target.getConnection(username, password), resource);
    }

    @Override
    public PrintWriter getLogWriter() throws SQLException {
        return target.getLogWriter();
    }

    @Override
    public void setLogWriter(PrintWriter out) throws SQLException {
        target.setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws SQLException {
        target.setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws SQLException {
        return target.getLoginTimeout();
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        return target.getParentLogger();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        return iface.isInstance(this) ? iface.cast(this) : target.unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return iface.isInstance(this) || target.isWrapperFor(iface);
    }

    @Override
    public String toString() {
        return "DataSourceProxy[" + resource.resourceId() + " over " + target + "]";
    }
}
