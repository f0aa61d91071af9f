package io.cohort.rm.jdbc;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;

/**
 * How image values travel: as the database's own text for the column's type, never as the
 * driver's rendering of it. The dialect selects every image column as text in SQL (PostgreSQL:
 * {@code col::text}, see {@code Dialect#imageList}), so a value reads the same whether the driver
 * receives the row in text or binary format (pgJDBC switches a statement to binary at its 5th
 * execution), and every type whose text form the database can parse back — arrays with bounds,
 * {@code timetz} offsets, {@code NaN}, {@code infinity}, BC dates, composites, ranges, enums,
 * domains — round-trips exactly. Values are bound back the same way: as untyped text that the
 * database parses as the column's own type. SQL NULL is Java {@code null}.
 *
 * <p>Two renderings of one value can still differ when the sessions that read them differ (another
 * time zone for a {@code timestamptz[]}): images are therefore compared as values, by the database
 * ({@code Dialect#sameValues}), whenever their texts differ.
 */
final class ValueCodec {

    private ValueCodec() {
    }

    /** Reads image column {@code index} of the current row (selected as text by the dialect); null for SQL NULL. */
    static String read(ResultSet rs, int index) throws SQLException {
        return rs.getString(index);
    }

    /** Binds an image value (null for SQL NULL) as untyped text: the database parses it as the target column's type. */
    static void bind(PreparedStatement ps, int index, String value) throws SQLException {
        if (value == null) {
            ps.setNull(index, Types.OTHER);
        } else {
            ps.setObject(index, value, Types.OTHER);
        }
    }
}
