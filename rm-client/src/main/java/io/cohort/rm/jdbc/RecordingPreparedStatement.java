package io.cohort.rm.jdbc;

import io.cohort.rm.exec.ParamLog;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.SQLException;

/**
 * The setters of a {@link PreparedStatement} of a {@link ConnectionProxy}: each is forwarded to the
 * wrapped statement and, when recording, the bound value is remembered so the RM can bind it again
 * on the statements it rewrites the SQL into. Streams are read into memory when recording, since a
 * stream can be read only once. The executions are {@link PreparedStatementProxy}'s.
 */
abstract class RecordingPreparedStatement extends InterceptingStatement<PreparedStatement> implements PreparedStatement {

    /** Every bound parameter, replayable onto another statement; null when not recording (outside a global transaction). */
    final ParamLog params;

    RecordingPreparedStatement(ConnectionProxy connection, PreparedStatement delegate, ParamLog params) {
        super(connection, delegate);
        this.params = params;
    }

    private void record(int parameterIndex, ParamLog.BoundParam value) {
        if (params != null) {
            params.put(parameterIndex, value);
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

    @Override
    public java.sql.ResultSetMetaData getMetaData() throws SQLException {
        return delegate.getMetaData();
    }

    @Override
    public java.sql.ParameterMetaData getParameterMetaData() throws SQLException {
        return delegate.getParameterMetaData();
    }

    @Override
    public void setArray(int parameterIndex, java.sql.Array x) throws SQLException {
        delegate.setArray(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setArray(i, x));
    }

    @Override
    public void setAsciiStream(int parameterIndex, java.io.InputStream x, int length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, new String(readAll(x), StandardCharsets.US_ASCII));
        } else {
            delegate.setAsciiStream(parameterIndex, x, length);
        }
    }

    @Override
    public void setAsciiStream(int parameterIndex, java.io.InputStream x, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, new String(readAll(x), StandardCharsets.US_ASCII));
        } else {
            delegate.setAsciiStream(parameterIndex, x, length);
        }
    }

    @Override
    public void setAsciiStream(int parameterIndex, java.io.InputStream x) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, new String(readAll(x), StandardCharsets.US_ASCII));
        } else {
            delegate.setAsciiStream(parameterIndex, x);
        }
    }

    @Override
    public void setBigDecimal(int parameterIndex, java.math.BigDecimal x) throws SQLException {
        delegate.setBigDecimal(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setBigDecimal(i, x));
    }

    @Override
    public void setBinaryStream(int parameterIndex, java.io.InputStream x, int length) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(x));
        } else {
            delegate.setBinaryStream(parameterIndex, x, length);
        }
    }

    @Override
    public void setBinaryStream(int parameterIndex, java.io.InputStream x, long length) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(x));
        } else {
            delegate.setBinaryStream(parameterIndex, x, length);
        }
    }

    @Override
    public void setBinaryStream(int parameterIndex, java.io.InputStream x) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(x));
        } else {
            delegate.setBinaryStream(parameterIndex, x);
        }
    }

    @Override
    public void setBlob(int parameterIndex, java.io.InputStream inputStream, long length) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(inputStream));
        } else {
            delegate.setBlob(parameterIndex, inputStream, length);
        }
    }

    @Override
    public void setBlob(int parameterIndex, java.io.InputStream inputStream) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(inputStream));
        } else {
            delegate.setBlob(parameterIndex, inputStream);
        }
    }

    @Override
    public void setBlob(int parameterIndex, java.sql.Blob x) throws SQLException {
        delegate.setBlob(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setBlob(i, x));
    }

    @Override
    public void setBoolean(int parameterIndex, boolean x) throws SQLException {
        delegate.setBoolean(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setBoolean(i, x));
    }

    @Override
    public void setByte(int parameterIndex, byte x) throws SQLException {
        delegate.setByte(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setByte(i, x));
    }

    @Override
    public void setBytes(int parameterIndex, byte[] x) throws SQLException {
        delegate.setBytes(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setBytes(i, x));
    }

    @Override
    public void setCharacterStream(int parameterIndex, java.io.Reader reader, int length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setCharacterStream(parameterIndex, reader, length);
        }
    }

    @Override
    public void setCharacterStream(int parameterIndex, java.io.Reader reader, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setCharacterStream(parameterIndex, reader, length);
        }
    }

    @Override
    public void setCharacterStream(int parameterIndex, java.io.Reader reader) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setCharacterStream(parameterIndex, reader);
        }
    }

    @Override
    public void setClob(int parameterIndex, java.io.Reader reader, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setClob(parameterIndex, reader, length);
        }
    }

    @Override
    public void setClob(int parameterIndex, java.io.Reader reader) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setClob(parameterIndex, reader);
        }
    }

    @Override
    public void setClob(int parameterIndex, java.sql.Clob x) throws SQLException {
        delegate.setClob(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setClob(i, x));
    }

    @Override
    public void setDate(int parameterIndex, java.sql.Date x, java.util.Calendar cal) throws SQLException {
        delegate.setDate(parameterIndex, x, cal);
        record(parameterIndex, (ps, i) -> ps.setDate(i, x, cal));
    }

    @Override
    public void setDate(int parameterIndex, java.sql.Date x) throws SQLException {
        delegate.setDate(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setDate(i, x));
    }

    @Override
    public void setDouble(int parameterIndex, double x) throws SQLException {
        delegate.setDouble(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setDouble(i, x));
    }

    @Override
    public void setFloat(int parameterIndex, float x) throws SQLException {
        delegate.setFloat(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setFloat(i, x));
    }

    @Override
    public void setInt(int parameterIndex, int x) throws SQLException {
        delegate.setInt(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setInt(i, x));
    }

    @Override
    public void setLong(int parameterIndex, long x) throws SQLException {
        delegate.setLong(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setLong(i, x));
    }

    @Override
    public void setNCharacterStream(int parameterIndex, java.io.Reader value, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(value));
        } else {
            delegate.setNCharacterStream(parameterIndex, value, length);
        }
    }

    @Override
    public void setNCharacterStream(int parameterIndex, java.io.Reader value) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(value));
        } else {
            delegate.setNCharacterStream(parameterIndex, value);
        }
    }

    @Override
    public void setNClob(int parameterIndex, java.io.Reader reader, long length) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setNClob(parameterIndex, reader, length);
        }
    }

    @Override
    public void setNClob(int parameterIndex, java.io.Reader reader) throws SQLException {
        if (params != null) {
            recordText(parameterIndex, readAll(reader));
        } else {
            delegate.setNClob(parameterIndex, reader);
        }
    }

    @Override
    public void setNClob(int parameterIndex, java.sql.NClob value) throws SQLException {
        delegate.setNClob(parameterIndex, value);
        record(parameterIndex, (ps, i) -> ps.setNClob(i, value));
    }

    @Override
    public void setNString(int parameterIndex, String value) throws SQLException {
        delegate.setNString(parameterIndex, value);
        record(parameterIndex, (ps, i) -> ps.setNString(i, value));
    }

    @Override
    public void setNull(int parameterIndex, int sqlType, String typeName) throws SQLException {
        delegate.setNull(parameterIndex, sqlType, typeName);
        record(parameterIndex, (ps, i) -> ps.setNull(i, sqlType, typeName));
    }

    @Override
    public void setNull(int parameterIndex, int sqlType) throws SQLException {
        delegate.setNull(parameterIndex, sqlType);
        record(parameterIndex, (ps, i) -> ps.setNull(i, sqlType));
    }

    @Override
    public void setObject(int parameterIndex, Object x, int targetSqlType, int scaleOrLength) throws SQLException {
        delegate.setObject(parameterIndex, x, targetSqlType, scaleOrLength);
        record(parameterIndex, (ps, i) -> ps.setObject(i, x, targetSqlType, scaleOrLength));
    }

    @Override
    public void setObject(int parameterIndex, Object x, int targetSqlType) throws SQLException {
        delegate.setObject(parameterIndex, x, targetSqlType);
        record(parameterIndex, (ps, i) -> ps.setObject(i, x, targetSqlType));
    }

    @Override
    public void setObject(int parameterIndex, Object x, java.sql.SQLType targetSqlType, int scaleOrLength) throws SQLException {
        delegate.setObject(parameterIndex, x, targetSqlType, scaleOrLength);
        record(parameterIndex, (ps, i) -> ps.setObject(i, x, targetSqlType, scaleOrLength));
    }

    @Override
    public void setObject(int parameterIndex, Object x, java.sql.SQLType targetSqlType) throws SQLException {
        delegate.setObject(parameterIndex, x, targetSqlType);
        record(parameterIndex, (ps, i) -> ps.setObject(i, x, targetSqlType));
    }

    @Override
    public void setObject(int parameterIndex, Object x) throws SQLException {
        delegate.setObject(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setObject(i, x));
    }

    @Override
    public void setRef(int parameterIndex, java.sql.Ref x) throws SQLException {
        delegate.setRef(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setRef(i, x));
    }

    @Override
    public void setRowId(int parameterIndex, java.sql.RowId x) throws SQLException {
        delegate.setRowId(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setRowId(i, x));
    }

    @Override
    public void setSQLXML(int parameterIndex, java.sql.SQLXML xmlObject) throws SQLException {
        delegate.setSQLXML(parameterIndex, xmlObject);
        record(parameterIndex, (ps, i) -> ps.setSQLXML(i, xmlObject));
    }

    @Override
    public void setShort(int parameterIndex, short x) throws SQLException {
        delegate.setShort(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setShort(i, x));
    }

    @Override
    public void setString(int parameterIndex, String x) throws SQLException {
        delegate.setString(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setString(i, x));
    }

    @Override
    public void setTime(int parameterIndex, java.sql.Time x, java.util.Calendar cal) throws SQLException {
        delegate.setTime(parameterIndex, x, cal);
        record(parameterIndex, (ps, i) -> ps.setTime(i, x, cal));
    }

    @Override
    public void setTime(int parameterIndex, java.sql.Time x) throws SQLException {
        delegate.setTime(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setTime(i, x));
    }

    @Override
    public void setTimestamp(int parameterIndex, java.sql.Timestamp x, java.util.Calendar cal) throws SQLException {
        delegate.setTimestamp(parameterIndex, x, cal);
        record(parameterIndex, (ps, i) -> ps.setTimestamp(i, x, cal));
    }

    @Override
    public void setTimestamp(int parameterIndex, java.sql.Timestamp x) throws SQLException {
        delegate.setTimestamp(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setTimestamp(i, x));
    }

    @Override
    public void setURL(int parameterIndex, java.net.URL x) throws SQLException {
        delegate.setURL(parameterIndex, x);
        record(parameterIndex, (ps, i) -> ps.setURL(i, x));
    }

    @Override
    public void setUnicodeStream(int parameterIndex, java.io.InputStream x, int length) throws SQLException {
        if (params != null) {
            recordBytes(parameterIndex, readAll(x));
        } else {
            delegate.setUnicodeStream(parameterIndex, x, length);
        }
    }

}
