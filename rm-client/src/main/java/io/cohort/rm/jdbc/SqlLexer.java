package io.cohort.rm.jdbc;

/**
 * The little of PostgreSQL's lexical rules the RM needs to read SQL text without parsing it: where
 * string literals ({@code '...'}, {@code E'...'}), quoted identifiers, dollar-quoted strings and
 * comments (nested {@code /* *}{@code /}) end. Where a rule is unsure it ends a token early, so a
 * {@code ;} hidden in an odd token is seen as a statement end and refused, never missed.
 */
final class SqlLexer {

    private SqlLexer() {
    }

    /**
     * If a literal, quoted identifier or comment starts at {@code i}, the index of its last
     * character (the end of the text when it is unterminated); otherwise {@code i}.
     */
    static int skipToken(String sql, int i) {
        int len = sql.length();
        char c = sql.charAt(i);
        char next = i + 1 < len ? sql.charAt(i + 1) : 0;
        if (c == '\'') {
            return skipQuoted(sql, i, '\'', isEscapeStringPrefix(sql, i));
        }
        if (c == '"') {
            return skipQuoted(sql, i, '"', false);
        }
        if (c == '-' && next == '-') {
            int nl = sql.indexOf('\n', i);
            return nl < 0 ? len - 1 : nl;
        }
        if (c == '/' && next == '*') {
            return skipBlockComment(sql, i);
        }
        if (c == '$' && (i == 0 || !isIdentifierPart(sql.charAt(i - 1)))) {
            return skipDollarQuoted(sql, i);
        }
        return i;
    }

    /** The index of the first {@code ;} outside literals, quoted identifiers and comments, or -1. */
    static int firstSemicolon(String sql) {
        for (int i = 0; i < sql.length(); i++) {
            int end = skipToken(sql, i);
            if (end != i) {
                i = end;
            } else if (sql.charAt(i) == ';') {
                return i;
            }
        }
        return -1;
    }

    /** Whether {@code sql} from {@code from} on holds nothing but whitespace, comments and semicolons. */
    static boolean onlyCommentsFrom(String sql, int from) {
        for (int i = from; i < sql.length(); i++) {
            char c = sql.charAt(i);
            if (Character.isWhitespace(c) || c == ';') {
                continue;
            }
            boolean comment = c == '-' || c == '/';
            int end = skipToken(sql, i);
            if (!comment || end == i) {
                return false;
            }
            i = end;
        }
        return true;
    }

    /** {@code E'...'}: backslash escapes apply (only when the E is not the end of a longer word). */
    private static boolean isEscapeStringPrefix(String sql, int quote) {
        return quote >= 1 && (sql.charAt(quote - 1) == 'E' || sql.charAt(quote - 1) == 'e')
                && (quote == 1 || !isIdentifierPart(sql.charAt(quote - 2)));
    }

    private static int skipQuoted(String sql, int start, char quote, boolean backslashEscapes) {
        for (int i = start + 1; i < sql.length(); i++) {
            char c = sql.charAt(i);
            if (backslashEscapes && c == '\\') {
                i++;
            } else if (c == quote) {
                if (i + 1 < sql.length() && sql.charAt(i + 1) == quote) {
                    i++;
                } else {
                    return i;
                }
            }
        }
        return sql.length() - 1;
    }

    private static int skipBlockComment(String sql, int start) {
        int depth = 0;
        for (int i = start; i + 1 < sql.length(); i++) {
            if (sql.charAt(i) == '/' && sql.charAt(i + 1) == '*') {
                depth++;
                i++;
            } else if (sql.charAt(i) == '*' && sql.charAt(i + 1) == '/') {
                depth--;
                i++;
                if (depth == 0) {
                    return i;
                }
            }
        }
        return sql.length() - 1;
    }

    /** {@code $tag$...$tag$} with an optional tag; {@code $1} (a positional parameter) is no quote. */
    private static int skipDollarQuoted(String sql, int start) {
        int i = start + 1;
        while (i < sql.length() && isIdentifierPart(sql.charAt(i)) && sql.charAt(i) != '$') {
            i++;
        }
        if (i >= sql.length() || sql.charAt(i) != '$' || (i > start + 1 && Character.isDigit(sql.charAt(start + 1)))) {
            return start;
        }
        String tag = sql.substring(start, i + 1);
        int close = sql.indexOf(tag, i + 1);
        return close < 0 ? sql.length() - 1 : close + tag.length() - 1;
    }

    private static boolean isIdentifierPart(char c) {
        return Character.isLetterOrDigit(c) || c == '_' || c == '$';
    }
}
