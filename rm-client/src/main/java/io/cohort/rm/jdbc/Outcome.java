package io.cohort.rm.jdbc;

import java.sql.ResultSet;

/**
 * What the caller of a rewritten statement sees.
 *
 * @param updateCount   rows changed (the JDBC update count)
 * @param resultSet     the caller's RETURNING rows, or null when the statement returns none
 * @param generatedKeys the generated keys the caller asked for, or null
 */
record Outcome(long updateCount, ResultSet resultSet, ResultSet generatedKeys) {
}
