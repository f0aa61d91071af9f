package io.cohort.rm.jdbc;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * A {@link PreparedStatement} of a {@link ConnectionProxy}. Prepared inside a global transaction (or
 * global lock) it records its parameters, so the SQL path can bind them again on the statements it
 * rewrites the SQL into; outside one it only forwards. Streams are read into memory when recording,
 * since a stream can be read only once. The other calls, and the recording of values, are
 * {@link DelegatingPreparedStatement}'s (generated at build time).
 */
final class PreparedStatementProxy extends DelegatingPreparedStatement {

    /** Every bound parameter, replayable onto another statement; null when not recording (outside a global transaction). */
    private final ParamLog params;
    private final String sql;
    private final boolean generatedKeys;
    private final String[] keyColumns;

    PreparedStatementProxy(ConnectionProxy connection, PreparedStatement delegate, String sql, ParamLog params,
                           boolean generatedKeys, String[] keyColumns) {
        super(connection, delegate);
        this.params = params;
        this.sql = sql;
        this.generatedKeys = generatedKeys;
        this.keyColumns = keyColumns;
    }

    @Override
    void record(int parameterIndex, ParamLog.BoundParam binder) {
        if (params != null) {
            params.put(parameterIndex, binder);
        }
    }

    // Integers are noted as such: a primary key pinned to one has a known lock key before the statement runs.

    @Override
    public void setShort(int parameterIndex, short x) throws SQLException {
        super.setShort(parameterIndex, x);
        markInteger(parameterIndex, x);
    }

    @Override
    public void setInt(int parameterIndex, int x) throws SQLException {
        super.setInt(parameterIndex, x);
        markInteger(parameterIndex, x);
    }

    @Override
    public void setLong(int parameterIndex, long x) throws SQLException {
        super.setLong(parameterIndex, x);
        markInteger(parameterIndex, x);
    }

    @Override
    public void setObject(int parameterIndex, Object x) throws SQLException {
        super.setObject(parameterIndex, x);
        if (x instanceof Long || x instanceof Integer || x instanceof Short) {
            markInteger(parameterIndex, ((Number) x).longValue());
        }
    }

    private void markInteger(int parameterIndex, long value) {
        if (params != null) {
            params.markInteger(parameterIndex, value);
        }
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

    // ---- streams: read once, bound and recorded as their content ----

    @Override
    public void setAsciiStream(int parameterIndex, InputStream x, int length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, new String(readAll(x), StandardCharsets.US_ASCII));
        } else {
            delegate.setAsciiStream(parameterIndex, x, length);
        }
    }

    @Override
    public void setAsciiStream(int parameterIndex, InputStream x, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, new String(readAll(x), StandardCharsets.US_ASCII));
        } else {
            delegate.setAsciiStream(parameterIndex, x, length);
        }
    }

    @Override
    public void setAsciiStream(int parameterIndex, InputStream x) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, new String(readAll(x), StandardCharsets.US_ASCII));
        } else {
            delegate.setAsciiStream(parameterIndex, x);
        }
    }

    @Override
    public void setBinaryStream(int parameterIndex, InputStream x, int length) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(x));
        } else {
            delegate.setBinaryStream(parameterIndex, x, length);
        }
    }

    @Override
    public void setBinaryStream(int parameterIndex, InputStream x, long length) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(x));
        } else {
            delegate.setBinaryStream(parameterIndex, x, length);
        }
    }

    @Override
    public void setBinaryStream(int parameterIndex, InputStream x) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(x));
        } else {
            delegate.setBinaryStream(parameterIndex, x);
        }
    }

    @Override
    public void setBlob(int parameterIndex, InputStream inputStream, long length) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(inputStream));
        } else {
            delegate.setBlob(parameterIndex, inputStream, length);
        }
    }

    @Override
    public void setBlob(int parameterIndex, InputStream inputStream) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(inputStream));
        } else {
            delegate.setBlob(parameterIndex, inputStream);
        }
    }

    @Override
    public void setCharacterStream(int parameterIndex, Reader reader, int length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setCharacterStream(parameterIndex, reader, length);
        }
    }

    @Override
    public void setCharacterStream(int parameterIndex, Reader reader, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setCharacterStream(parameterIndex, reader, length);
        }
    }

    @Override
    public void setCharacterStream(int parameterIndex, Reader reader) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setCharacterStream(parameterIndex, reader);
        }
    }

    @Override
    public void setClob(int parameterIndex, Reader reader, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setClob(parameterIndex, reader, length);
        }
    }

    @Override
    public void setClob(int parameterIndex, Reader reader) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setClob(parameterIndex, reader);
        }
    }

    @Override
    public void setNCharacterStream(int parameterIndex, Reader value, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(value));
        } else {
            delegate.setNCharacterStream(parameterIndex, value, length);
        }
    }

    @Override
    public void setNCharacterStream(int parameterIndex, Reader value) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(value));
        } else {
            delegate.setNCharacterStream(parameterIndex, value);
        }
    }

    @Override
    public void setNClob(int parameterIndex, Reader reader, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setNClob(parameterIndex, reader, length);
        }
    }

    @Override
    public void setNClob(int parameterIndex, Reader reader) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setNClob(parameterIndex, reader);
        }
    }

    @Override
    public void setUnicodeStream(int parameterIndex, InputStream x, int length) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(x));
        } else {
            delegate.setUnicodeStream(parameterIndex, x, length);
        }
    }

    /** A stream read while recording: bound (and recorded) as the text it held. */
    private void recordText(int parameterIndex, String text) throws SQLException {
        delegate.setString(parameterIndex, text);
        params.put(parameterIndex, (ps, i) -> ps.setString(i, text));
    }

    /** A stream read while recording: bound (and recorded) as the bytes it held. */
    private void recordBytes(int parameterIndex, byte[] bytes) throws SQLException {
        delegate.setBytes(parameterIndex, bytes);
        params.put(parameterIndex, (ps, i) -> ps.setBytes(i, bytes));
    }

    private static byte[] readAll(InputStream in) throws SQLException {
        if (in == null) {
            return null;
        }
        try (in) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new SQLException("Could not read the stream bound as a parameter: " + e.getMessage(), e);
        }
    }

    private static String readAll(Reader in) throws SQLException {
        if (in == null) {
            return null;
        }
        try (in) {
            StringWriter w = new StringWriter();
            in.transferTo(w);
            return w.toString();
        } catch (IOException e) {
            throw new SQLException("Could not read the reader bound as a parameter: " + e.getMessage(), e);
        }
    }
}
