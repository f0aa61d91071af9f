package io.cohort.rm.image;

import java.math.BigDecimal;
import java.sql.JDBCType;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.util.Base64;

/**
 * Explicit per-type rules that turn a column value into a string and back, so images compare
 * exactly and the undo log holds no class names. Each rule round-trips its type exactly:
 * <ul>
 *   <li>integers: decimal digits; numeric: {@link BigDecimal#toPlainString()} (scale kept);
 *       real/double: {@link Double#toString}; boolean: {@code true}/{@code false}</li>
 *   <li>date / time / timestamp: ISO-8601 local values; timestamptz: ISO-8601 in UTC</li>
 *   <li>binary: base64</li>
 *   <li>text and everything else (uuid, json, jsonb, arrays, ...): the database's text form, bound
 *       back as an untyped literal so the database parses it for the column's own type</li>
 * </ul>
 * SQL NULL is Java {@code null} in every type.
 */
public final class ValueCodec {

    private ValueCodec() {
    }

    /** Reads column {@code index} of the current row as its encoded string (null for SQL NULL). */
    public static String read(ResultSet rs, int index, JDBCType type) throws SQLException {
        switch (type) {
            case TINYINT, SMALLINT, INTEGER, BIGINT -> {
                long v = rs.getLong(index);
                return rs.wasNull() ? null : Long.toString(v);
            }
            case NUMERIC, DECIMAL -> {
                BigDecimal v = rs.getBigDecimal(index);
                return v == null ? null : v.toPlainString();
            }
            case REAL, FLOAT, DOUBLE -> {
                double v = rs.getDouble(index);
                return rs.wasNull() ? null : Double.toString(v);
            }
            case BOOLEAN -> {
                boolean v = rs.getBoolean(index);
                return rs.wasNull() ? null : Boolean.toString(v);
            }
            case DATE -> {
                LocalDate v = rs.getObject(index, LocalDate.class);
                return v == null ? null : v.toString();
            }
            case TIME -> {
                LocalTime v = rs.getObject(index, LocalTime.class);
                return v == null ? null : v.toString();
            }
            case TIMESTAMP -> {
                LocalDateTime v = rs.getObject(index, LocalDateTime.class);
                return v == null ? null : v.toString();
            }
            case TIMESTAMP_WITH_TIMEZONE -> {
                OffsetDateTime v = rs.getObject(index, OffsetDateTime.class);
                return v == null ? null : v.withOffsetSameInstant(java.time.ZoneOffset.UTC).toString();
            }
            case BINARY, VARBINARY, LONGVARBINARY, BLOB -> {
                byte[] v = rs.getBytes(index);
                return v == null ? null : Base64.getEncoder().encodeToString(v);
            }
            default -> {
                return rs.getString(index);
            }
        }
    }

    /** Binds an encoded value (null for SQL NULL) at {@code index} for a column of {@code type}. */
    public static void bind(PreparedStatement ps, int index, JDBCType type, String value) throws SQLException {
        if (value == null) {
            ps.setNull(index, nullType(type));
            return;
        }
        switch (type) {
            case TINYINT, SMALLINT, INTEGER, BIGINT -> ps.setLong(index, Long.parseLong(value));
            case NUMERIC, DECIMAL -> ps.setBigDecimal(index, new BigDecimal(value));
            case REAL, FLOAT, DOUBLE -> ps.setDouble(index, Double.parseDouble(value));
            case BOOLEAN -> ps.setBoolean(index, Boolean.parseBoolean(value));
            case DATE -> ps.setObject(index, LocalDate.parse(value));
            case TIME -> ps.setObject(index, LocalTime.parse(value));
            case TIMESTAMP -> ps.setObject(index, LocalDateTime.parse(value));
            case TIMESTAMP_WITH_TIMEZONE -> ps.setObject(index, OffsetDateTime.parse(value));
            case BINARY, VARBINARY, LONGVARBINARY, BLOB -> ps.setBytes(index, Base64.getDecoder().decode(value));
            case CHAR, VARCHAR, LONGVARCHAR, NCHAR, NVARCHAR, LONGNVARCHAR, CLOB -> ps.setString(index, value);
            default -> ps.setObject(index, value, Types.OTHER);
        }
    }

    private static int nullType(JDBCType type) {
        return switch (type) {
            case TINYINT, SMALLINT, INTEGER, BIGINT, NUMERIC, DECIMAL, REAL, FLOAT, DOUBLE, BOOLEAN, DATE, TIME,
                 TIMESTAMP, TIMESTAMP_WITH_TIMEZONE, BINARY, VARBINARY, LONGVARBINARY, CHAR, VARCHAR, LONGVARCHAR ->
                    type.getVendorTypeNumber();
            default -> Types.OTHER;
        };
    }
}
