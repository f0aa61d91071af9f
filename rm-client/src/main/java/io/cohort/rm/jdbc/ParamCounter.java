package io.cohort.rm.jdbc;

/**
 * Counts JDBC {@code ?} parameters in SQL text, skipping string literals, quoted identifiers,
 * dollar-quoted strings and comments ({@link SqlLexer}), and PostgreSQL JDBC's {@code ??} escape
 * for a literal '?'.
 */
final class ParamCounter {

    private ParamCounter() {
    }

    static int count(String sql) {
        if (sql == null) {
            return 0;
        }
        int n = 0;
        int len = sql.length();
        for (int i = 0; i < len; i++) {
            int end = SqlLexer.skipToken(sql, i);
            if (end != i) {
                i = end;
            } else if (sql.charAt(i) == '?') {
                if (i + 1 < len && sql.charAt(i + 1) == '?') {
                    i++;
                } else {
                    n++;
                }
            }
        }
        return n;
    }
}
