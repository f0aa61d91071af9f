package io.cohort.rm.jdbc;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * The application's {@link DataSource}, wrapped: every connection is a {@link ConnectionProxy}.
 * Created by {@link io.cohort.rm.jdbc.ResourceManager#wrap}.
 */
public final class DataSourceProxy implements DataSource {

    private final DataSource target;
    private final Resource resource;

    public DataSourceProxy(DataSource target, Resource resource) {
        this.target = target;
        this.resource = resource;
    }

    public Resource resource() {
        return resource;
    }

    public DataSource target() {
        return target;
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
