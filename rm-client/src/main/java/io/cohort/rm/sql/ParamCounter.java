package io.cohort.rm.sql;

/**
 * Counts JDBC {@code ?} parameters in SQL text, skipping string literals, quoted identifiers,
 * dollar-quoted strings and comments, and PostgreSQL JDBC's {@code ??} escape for a literal '?'.
 */
public final class ParamCounter {

    private ParamCounter() {
    }

    public static int count(String sql) {
        if (sql == null) {
            return 0;
        }
        int n = 0;
        int len = sql.length();
        for (int i = 0; i < len; i++) {
            char c = sql.charAt(i);
            switch (c) {
                case '\'', '"' -> i = skipQuoted(sql, i, c);
                case '-' -> {
                    if (i + 1 < len && sql.charAt(i + 1) == '-') {
                        int nl = sql.indexOf('\n', i);
                        i = nl < 0 ? len : nl;
                    }
                }
                case '/' -> {
                    if (i + 1 < len && sql.charAt(i + 1) == '*') {
                        int end = sql.indexOf("*/", i + 2);
                        i = end < 0 ? len : end + 1;
                    }
                }
                case '$' -> i = skipDollarQuoted(sql, i);
                case '?' -> {
                    if (i + 1 < len && sql.charAt(i + 1) == '?') {
                        i++;
                    } else {
                        n++;
                    }
                }
                default -> {
                }
            }
        }
        return n;
    }

    private static int skipQuoted(String sql, int start, char quote) {
        for (int i = start + 1; i < sql.length(); i++) {
            if (sql.charAt(i) == quote) {
                if (i + 1 < sql.length() && sql.charAt(i + 1) == quote) {
                    i++;
                } else {
                    return i;
                }
            }
        }
        return sql.length();
    }

    private static int skipDollarQuoted(String sql, int start) {
        int end = sql.indexOf('$', start + 1);
        if (end < 0) {
            return start;
        }
        String tag = sql.substring(start, end + 1);
        if (!tag.matches("\\$[A-Za-z_]*\\$")) {
            return start; // $1-style positional reference or an operator, not a quote
        }
        int close = sql.indexOf(tag, end + 1);
        return close < 0 ? sql.length() : close + tag.length() - 1;
    }
}
