package io.cohort.rm.image;

import java.sql.JDBCType;

/**
 * One column: its name as stored in the catalog and its JDBC type, normalised by the dialect so
 * that the type alone decides how a value is read, encoded and bound again ({@link ValueCodec}).
 *
 * @param generated the database computes it (a generated column): never written back on rollback
 */
public record ColumnMeta(String name, JDBCType type, boolean generated) {
}
