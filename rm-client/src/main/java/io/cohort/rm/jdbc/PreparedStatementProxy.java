package io.cohort.rm.jdbc;

import io.cohort.rm.exec.Invocation;
import io.cohort.rm.exec.Outcome;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link java.sql.PreparedStatement} of a {@link ConnectionProxy}. Prepared inside a global
 * transaction (or global lock) it records its parameters, so the SQL path can bind them again
 * on the statements it rewrites the SQL into; outside one it only forwards.
 */
final class PreparedStatementProxy extends DelegatingPreparedStatement {

    private final ConnectionProxy connection;
    private final String sql;
    private final boolean generatedKeys;
    private final String[] keyColumns;
    private ResultState state;
    private List<ParamLog> batch;

    PreparedStatementProxy(ConnectionProxy connection, java.sql.PreparedStatement delegate, String sql, ParamLog params,
                           boolean generatedKeys, String[] keyColumns) {
        super(delegate, params);
        this.connection = connection;
        this.sql = sql;
        this.generatedKeys = generatedKeys;
        this.keyColumns = keyColumns;
    }

    private Outcome run(ParamLog bound) throws SQLException {
        closeState();
        if (!ConnectionProxy.intercepting()) {
            return null;
        }
        Outcome outcome = connection.execute(new Invocation(sql, bound, generatedKeys, keyColumns));
        if (outcome != null) {
            state = new ResultState(outcome);
        }
        return outcome;
    }

    private void closeState() throws SQLException {
        if (state != null) {
            state.close();
            state = null;
        }
    }

    @Override
    public ResultSet executeQuery() throws SQLException {
        Outcome o = run(params);
        return o == null ? delegate.executeQuery() : StatementProxy.queryResult(o);
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
            return;
        }
        if (batch == null) {
            batch = new ArrayList<>();
        }
        batch.add(params.copy());
    }

    @Override
    public void clearBatch() throws SQLException {
        batch = null;
        delegate.clearBatch();
    }

    @Override
    public int[] executeBatch() throws SQLException {
        if (batch == null) {
            return delegate.executeBatch();
        }
        long[] counts = executeLargeBatch();
        int[] out = new int[counts.length];
        for (int i = 0; i < counts.length; i++) {
            out[i] = ResultState.toInt(counts[i]);
        }
        return out;
    }

    @Override
    public long[] executeLargeBatch() throws SQLException {
        List<ParamLog> entries = batch;
        batch = null;
        if (entries == null) {
            return delegate.executeLargeBatch();
        }
        long[] counts = new long[entries.size()];
        for (int i = 0; i < counts.length; i++) {
            ParamLog entry = entries.get(i);
            Outcome o = run(entry);
            if (o == null) {
                entry.bindAll(delegate);
                counts[i] = delegate.executeLargeUpdate();
            } else {
                counts[i] = o.updateCount();
            }
        }
        closeState();
        return counts;
    }

    @Override
    public ResultSet getResultSet() throws SQLException {
        return state != null ? state.resultSet() : delegate.getResultSet();
    }

    @Override
    public int getUpdateCount() throws SQLException {
        return state != null ? ResultState.toInt(state.updateCount()) : delegate.getUpdateCount();
    }

    @Override
    public long getLargeUpdateCount() throws SQLException {
        return state != null ? state.updateCount() : delegate.getLargeUpdateCount();
    }

    @Override
    public boolean getMoreResults() throws SQLException {
        return state != null ? state.moreResults() : delegate.getMoreResults();
    }

    @Override
    public boolean getMoreResults(int current) throws SQLException {
        return state != null ? state.moreResults() : delegate.getMoreResults(current);
    }

    @Override
    public ResultSet getGeneratedKeys() throws SQLException {
        return state != null && state.generatedKeys() != null ? state.generatedKeys() : delegate.getGeneratedKeys();
    }

    @Override
    public Connection getConnection() {
        return connection;
    }

    @Override
    public void close() throws SQLException {
        closeState();
        delegate.close();
    }
}
