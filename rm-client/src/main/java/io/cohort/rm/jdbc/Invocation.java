package io.cohort.rm.jdbc;

/**
 * One execution the application asked for.
 *
 * @param sql           the SQL as the application wrote it
 * @param params        the bound parameters, or null for a plain {@code Statement}
 * @param generatedKeys the application asked for generated keys
 * @param keyColumns    the generated-key columns it named, or null for all
 */
record Invocation(String sql, ParamLog params, boolean generatedKeys, String[] keyColumns) {
}
