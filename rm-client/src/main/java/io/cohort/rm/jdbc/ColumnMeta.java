package io.cohort.rm.jdbc;

import java.sql.JDBCType;

/**
 * One column: its name as stored in the catalog, the kind of value it holds and its SQL type.
 *
 * @param type      the JDBC type of the column (of a domain's base type), normalised by the dialect; it picks how
 *                  the dialect renders the column in an image (see {@link ValueCodec})
 * @param sqlType   the column's type as SQL can name it in a cast (e.g. {@code character(5)}, {@code public.mood[]});
 *                  null only in records read from undo logs written before it was recorded
 * @param generated the database computes it (a generated column): never written back on rollback
 */
record ColumnMeta(String name, JDBCType type, String sqlType, boolean generated) {

    ColumnMeta withSqlType(String sqlType) {
        return new ColumnMeta(name, type, sqlType, generated);
    }
}
