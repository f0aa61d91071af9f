package io.cohort.rm.jdbc;

import java.sql.SQLException;

/**
 * Forwards every {@link java.sql.PreparedStatement} call to the wrapped statement and, when recording,
 * remembers each bound parameter so the RM can bind it again on the statements it rewrites the SQL
 * into. Streams are read into memory when recording, since a stream can be read only once.
 * {@link PreparedStatementProxy} overrides what it needs.
 */
abstract class DelegatingPreparedStatement extends DelegatingStatement<java.sql.PreparedStatement>
        implements java.sql.PreparedStatement {

    /** Every bound parameter, replayable onto another statement; null when not recording (outside a global transaction). */
    protected final ParamLog params;

    DelegatingPreparedStatement(java.sql.PreparedStatement delegate, ParamLog params) {
        super(delegate);
        this.params = params;
    }

    @Override
    public void addBatch() throws SQLException {
        delegate.addBatch();
    }

    @Override
    public void clearParameters() throws SQLException {
        delegate.clearParameters();
    }

    @Override
    public boolean execute() throws SQLException {
        return delegate.execute();
    }

    @Override
    public long executeLargeUpdate() throws SQLException {
        return delegate.executeLargeUpdate();
    }

    @Override
    public java.sql.ResultSet executeQuery() throws SQLException {
        return delegate.executeQuery();
    }

    @Override
    public int executeUpdate() throws SQLException {
        return delegate.executeUpdate();
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
    public void setArray(int a0, java.sql.Array a1) throws SQLException {
        delegate.setArray(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setArray(i, a1));
        }
    }

    @Override
    public void setAsciiStream(int a0, java.io.InputStream a1, int a2) throws SQLException {
        if (params != null) {
            String text = new String(ParamLog.readAll(a1), java.nio.charset.StandardCharsets.US_ASCII);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setAsciiStream(a0, a1, a2);
    }

    @Override
    public void setAsciiStream(int a0, java.io.InputStream a1, long a2) throws SQLException {
        if (params != null) {
            String text = new String(ParamLog.readAll(a1), java.nio.charset.StandardCharsets.US_ASCII);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setAsciiStream(a0, a1, a2);
    }

    @Override
    public void setAsciiStream(int a0, java.io.InputStream a1) throws SQLException {
        if (params != null) {
            String text = new String(ParamLog.readAll(a1), java.nio.charset.StandardCharsets.US_ASCII);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setAsciiStream(a0, a1);
    }

    @Override
    public void setBigDecimal(int a0, java.math.BigDecimal a1) throws SQLException {
        delegate.setBigDecimal(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setBigDecimal(i, a1));
        }
    }

    @Override
    public void setBinaryStream(int a0, java.io.InputStream a1, int a2) throws SQLException {
        if (params != null) {
            byte[] bytes = ParamLog.readAll(a1);
            delegate.setBytes(a0, bytes);
            params.put(a0, (ps, i) -> ps.setBytes(i, bytes));
            return;
        }
        delegate.setBinaryStream(a0, a1, a2);
    }

    @Override
    public void setBinaryStream(int a0, java.io.InputStream a1, long a2) throws SQLException {
        if (params != null) {
            byte[] bytes = ParamLog.readAll(a1);
            delegate.setBytes(a0, bytes);
            params.put(a0, (ps, i) -> ps.setBytes(i, bytes));
            return;
        }
        delegate.setBinaryStream(a0, a1, a2);
    }

    @Override
    public void setBinaryStream(int a0, java.io.InputStream a1) throws SQLException {
        if (params != null) {
            byte[] bytes = ParamLog.readAll(a1);
            delegate.setBytes(a0, bytes);
            params.put(a0, (ps, i) -> ps.setBytes(i, bytes));
            return;
        }
        delegate.setBinaryStream(a0, a1);
    }

    @Override
    public void setBlob(int a0, java.io.InputStream a1, long a2) throws SQLException {
        if (params != null) {
            byte[] bytes = ParamLog.readAll(a1);
            delegate.setBytes(a0, bytes);
            params.put(a0, (ps, i) -> ps.setBytes(i, bytes));
            return;
        }
        delegate.setBlob(a0, a1, a2);
    }

    @Override
    public void setBlob(int a0, java.io.InputStream a1) throws SQLException {
        if (params != null) {
            byte[] bytes = ParamLog.readAll(a1);
            delegate.setBytes(a0, bytes);
            params.put(a0, (ps, i) -> ps.setBytes(i, bytes));
            return;
        }
        delegate.setBlob(a0, a1);
    }

    @Override
    public void setBlob(int a0, java.sql.Blob a1) throws SQLException {
        delegate.setBlob(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setBlob(i, a1));
        }
    }

    @Override
    public void setBoolean(int a0, boolean a1) throws SQLException {
        delegate.setBoolean(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setBoolean(i, a1));
        }
    }

    @Override
    public void setByte(int a0, byte a1) throws SQLException {
        delegate.setByte(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setByte(i, a1));
        }
    }

    @Override
    public void setBytes(int a0, byte[] a1) throws SQLException {
        delegate.setBytes(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setBytes(i, a1));
        }
    }

    @Override
    public void setCharacterStream(int a0, java.io.Reader a1, int a2) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setCharacterStream(a0, a1, a2);
    }

    @Override
    public void setCharacterStream(int a0, java.io.Reader a1, long a2) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setCharacterStream(a0, a1, a2);
    }

    @Override
    public void setCharacterStream(int a0, java.io.Reader a1) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setCharacterStream(a0, a1);
    }

    @Override
    public void setClob(int a0, java.io.Reader a1, long a2) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setClob(a0, a1, a2);
    }

    @Override
    public void setClob(int a0, java.io.Reader a1) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setClob(a0, a1);
    }

    @Override
    public void setClob(int a0, java.sql.Clob a1) throws SQLException {
        delegate.setClob(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setClob(i, a1));
        }
    }

    @Override
    public void setDate(int a0, java.sql.Date a1, java.util.Calendar a2) throws SQLException {
        delegate.setDate(a0, a1, a2);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setDate(i, a1, a2));
        }
    }

    @Override
    public void setDate(int a0, java.sql.Date a1) throws SQLException {
        delegate.setDate(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setDate(i, a1));
        }
    }

    @Override
    public void setDouble(int a0, double a1) throws SQLException {
        delegate.setDouble(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setDouble(i, a1));
        }
    }

    @Override
    public void setFloat(int a0, float a1) throws SQLException {
        delegate.setFloat(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setFloat(i, a1));
        }
    }

    @Override
    public void setInt(int a0, int a1) throws SQLException {
        delegate.setInt(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setInt(i, a1));
        }
    }

    @Override
    public void setLong(int a0, long a1) throws SQLException {
        delegate.setLong(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setLong(i, a1));
        }
    }

    @Override
    public void setNCharacterStream(int a0, java.io.Reader a1, long a2) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setNCharacterStream(a0, a1, a2);
    }

    @Override
    public void setNCharacterStream(int a0, java.io.Reader a1) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setNCharacterStream(a0, a1);
    }

    @Override
    public void setNClob(int a0, java.io.Reader a1, long a2) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setNClob(a0, a1, a2);
    }

    @Override
    public void setNClob(int a0, java.io.Reader a1) throws SQLException {
        if (params != null) {
            String text = ParamLog.readAll(a1);
            delegate.setString(a0, text);
            params.put(a0, (ps, i) -> ps.setString(i, text));
            return;
        }
        delegate.setNClob(a0, a1);
    }

    @Override
    public void setNClob(int a0, java.sql.NClob a1) throws SQLException {
        delegate.setNClob(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setNClob(i, a1));
        }
    }

    @Override
    public void setNString(int a0, String a1) throws SQLException {
        delegate.setNString(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setNString(i, a1));
        }
    }

    @Override
    public void setNull(int a0, int a1, String a2) throws SQLException {
        delegate.setNull(a0, a1, a2);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setNull(i, a1, a2));
        }
    }

    @Override
    public void setNull(int a0, int a1) throws SQLException {
        delegate.setNull(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setNull(i, a1));
        }
    }

    @Override
    public void setObject(int a0, Object a1, int a2, int a3) throws SQLException {
        delegate.setObject(a0, a1, a2, a3);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setObject(i, a1, a2, a3));
        }
    }

    @Override
    public void setObject(int a0, Object a1, int a2) throws SQLException {
        delegate.setObject(a0, a1, a2);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setObject(i, a1, a2));
        }
    }

    @Override
    public void setObject(int a0, Object a1, java.sql.SQLType a2, int a3) throws SQLException {
        delegate.setObject(a0, a1, a2, a3);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setObject(i, a1, a2, a3));
        }
    }

    @Override
    public void setObject(int a0, Object a1, java.sql.SQLType a2) throws SQLException {
        delegate.setObject(a0, a1, a2);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setObject(i, a1, a2));
        }
    }

    @Override
    public void setObject(int a0, Object a1) throws SQLException {
        delegate.setObject(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setObject(i, a1));
        }
    }

    @Override
    public void setRef(int a0, java.sql.Ref a1) throws SQLException {
        delegate.setRef(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setRef(i, a1));
        }
    }

    @Override
    public void setRowId(int a0, java.sql.RowId a1) throws SQLException {
        delegate.setRowId(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setRowId(i, a1));
        }
    }

    @Override
    public void setSQLXML(int a0, java.sql.SQLXML a1) throws SQLException {
        delegate.setSQLXML(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setSQLXML(i, a1));
        }
    }

    @Override
    public void setShort(int a0, short a1) throws SQLException {
        delegate.setShort(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setShort(i, a1));
        }
    }

    @Override
    public void setString(int a0, String a1) throws SQLException {
        delegate.setString(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setString(i, a1));
        }
    }

    @Override
    public void setTime(int a0, java.sql.Time a1, java.util.Calendar a2) throws SQLException {
        delegate.setTime(a0, a1, a2);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setTime(i, a1, a2));
        }
    }

    @Override
    public void setTime(int a0, java.sql.Time a1) throws SQLException {
        delegate.setTime(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setTime(i, a1));
        }
    }

    @Override
    public void setTimestamp(int a0, java.sql.Timestamp a1, java.util.Calendar a2) throws SQLException {
        delegate.setTimestamp(a0, a1, a2);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setTimestamp(i, a1, a2));
        }
    }

    @Override
    public void setTimestamp(int a0, java.sql.Timestamp a1) throws SQLException {
        delegate.setTimestamp(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setTimestamp(i, a1));
        }
    }

    @Override
    public void setURL(int a0, java.net.URL a1) throws SQLException {
        delegate.setURL(a0, a1);
        if (params != null) {
            params.put(a0, (ps, i) -> ps.setURL(i, a1));
        }
    }

    @Override
    public void setUnicodeStream(int a0, java.io.InputStream a1, int a2) throws SQLException {
        if (params != null) {
            byte[] bytes = ParamLog.readAll(a1);
            delegate.setBytes(a0, bytes);
            params.put(a0, (ps, i) -> ps.setBytes(i, bytes));
            return;
        }
        delegate.setUnicodeStream(a0, a1, a2);
    }

}
