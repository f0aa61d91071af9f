package io.cohort.rm.jdbc;

import io.cohort.rm.exec.Invocation;
import io.cohort.rm.exec.Outcome;
import io.cohort.rm.exec.ParamLog;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * A {@link PreparedStatement} of a {@link ConnectionProxy}. Prepared inside a global transaction (or
 * global lock) it records its parameters, so the SQL path can bind them again on the statements it
 * rewrites the SQL into; outside one it only forwards.
 */
final class PreparedStatementProxy extends RecordingPreparedStatement {

    private final String sql;
    private final boolean generatedKeys;
    private final String[] keyColumns;

    PreparedStatementProxy(ConnectionProxy connection, PreparedStatement delegate, String sql, ParamLog params,
                           boolean generatedKeys, String[] keyColumns) {
        super(connection, delegate, params);
        this.sql = sql;
        this.generatedKeys = generatedKeys;
        this.keyColumns = keyColumns;
    }

    private Outcome run(ParamLog bound) throws SQLException {
        return run(new Invocation(sql, bound, generatedKeys, keyColumns));
    }

    @Override
    long updateOnDelegate(Invocation invocation) throws SQLException {
        invocation.params().bindAll(delegate);
        return delegate.executeLargeUpdate();
    }

    @Override
    public ResultSet executeQuery() throws SQLException {
        Outcome o = run(params);
        return o == null ? delegate.executeQuery() : queryResult(o);
    }

    @Override
    public int executeUpdate() throws SQLException {
        Outcome o = run(params);
        return o == null ? delegate.executeUpdate() : ResultState.toInt(o.updateCount());
    }

    @Override
    public long executeLargeUpdate() throws SQLException {
        Outcome o = run(params);
        return o == null ? delegate.executeLargeUpdate() : o.updateCount();
    }

    @Override
    public boolean execute() throws SQLException {
        Outcome o = run(params);
        return o == null ? delegate.execute() : o.resultSet() != null;
    }

    @Override
    public void clearParameters() throws SQLException {
        if (params != null) {
            params.clear();
        }
        delegate.clearParameters();
    }

    @Override
    public void addBatch() throws SQLException {
        if (params == null || !ConnectionProxy.intercepting()) {
            delegate.addBatch();
        } else {
            addToBatch(new Invocation(sql, params.copy(), generatedKeys, keyColumns));
        }
    }
}
