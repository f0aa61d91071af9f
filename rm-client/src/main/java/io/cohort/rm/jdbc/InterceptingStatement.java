package io.cohort.rm.jdbc;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * What the plain and the prepared statement of a {@link ConnectionProxy} share: running an
 * invocation through the RM's SQL path, the results of the statement the RM ran in the
 * application's place (as JDBC's getters expose them), and batches kept as invocations to run one
 * by one. Everything else is forwarded.
 */
abstract class InterceptingStatement<S extends Statement> extends DelegatingStatement<S> {

    private final ConnectionProxy connection;
    private ResultState state;
    /** Invocations batched inside a global transaction; null when the batch, if any, is the delegate's own. */
    private List<Invocation> batch;

    InterceptingStatement(ConnectionProxy connection, S delegate) {
        super(delegate);
        this.connection = connection;
    }

    /** Runs {@code invocation} through the SQL path when intercepting; null: the caller runs it on the delegate. */
    final Outcome run(Invocation invocation) throws SQLException {
        closeState();
        if (!ConnectionProxy.intercepting()) {
            return null;
        }
        Outcome outcome = connection.execute(invocation);
        if (outcome != null) {
            state = new ResultState(outcome);
        }
        return outcome;
    }

    /** The result set of a query the RM ran; JDBC's error when the statement returned none. */
    static ResultSet queryResult(Outcome outcome) throws SQLException {
        if (outcome.resultSet() == null) {
            throw new SQLException("No results were returned by the query.", "02000");
        }
        return outcome.resultSet();
    }

    /** Keeps {@code invocation} for {@link #executeLargeBatch}, to run through the SQL path. */
    final void addToBatch(Invocation invocation) {
        if (batch == null) {
            batch = new ArrayList<>();
        }
        batch.add(invocation);
    }

    /** Runs a batched invocation the SQL path passed through on the delegate; its update count. */
    abstract long updateOnDelegate(Invocation invocation) throws SQLException;

    private void closeState() throws SQLException {
        if (state != null) {
            state.close();
            state = null;
        }
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
        List<Invocation> entries = batch;
        batch = null;
        if (entries == null) {
            return delegate.executeLargeBatch();
        }
        long[] counts = new long[entries.size()];
        for (int i = 0; i < counts.length; i++) {
            Outcome outcome = run(entries.get(i));
            counts[i] = outcome == null ? updateOnDelegate(entries.get(i)) : outcome.updateCount();
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
