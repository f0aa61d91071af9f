package io.cohort.protocol;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The one lock-key format, written by the RM and read by the TC: {@code table:row1,row2}, where a
 * row is its primary-key values joined by {@code _}. The characters that carry structure are
 * escaped with a backslash — {@code \} and {@code :} in the table name, {@code \ , _} in values —
 * so distinct (table, primary key) pairs never give equal text. A {@code :} in a value needs no
 * escape: the table ends at the first unescaped one.
 *
 * <p>Keys whose table has no {@code \ :} and whose values have no {@code \ , _} encode exactly as
 * before escaping existed (table names with {@code _}, timestamps with {@code :} included), so such
 * locks already in a TC's log keep meaning the same rows. The TC compares the encoded row text (a
 * {@linkplain Parsed#rows() row token}); it need not decode it.
 */
public final class LockKeys {

    private static final char ESCAPE = '\\';
    private static final char TABLE_END = ':';
    private static final char ROW_SEPARATOR = ',';
    private static final char VALUE_SEPARATOR = '_';

    private LockKeys() {
    }

    /** A lock key parsed into its table token and row tokens, both still in their encoded form. */
    public record Parsed(String table, List<String> rows) {
        public Parsed {
            rows = List.copyOf(rows);
        }
    }

    /**
     * One row's token: its primary-key values, escaped, joined by {@code _}.
     *
     * @throws IllegalArgumentException when there is no value or a value is null (primary keys are never null)
     */
    public static String row(List<String> pkValues) {
        if (pkValues.isEmpty()) {
            throw new IllegalArgumentException("A lock key needs at least one primary-key value");
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pkValues.size(); i++) {
            String value = pkValues.get(i);
            if (value == null) {
                throw new IllegalArgumentException("Primary-key value " + (i + 1) + " of " + pkValues.size()
                        + " is null; rows are locked by primary key, which cannot be null");
            }
            if (i > 0) {
                sb.append(VALUE_SEPARATOR);
            }
            escapeInto(sb, value, ROW_SEPARATOR, VALUE_SEPARATOR);
        }
        return sb.toString();
    }

    /** {@link #row(List)} for values given one by one. */
    public static String row(String... pkValues) {
        return row(List.of(pkValues));
    }

    /** The lock key of {@code rows} (tokens from {@link #row}) of {@code table} (a plain name, escaped here). */
    public static String of(String table, Collection<String> rows) {
        if (table == null || table.isEmpty()) {
            throw new IllegalArgumentException("A lock key needs a table name");
        }
        if (rows.isEmpty()) {
            throw new IllegalArgumentException("A lock key of table " + table + " needs at least one row");
        }
        StringBuilder sb = new StringBuilder();
        escapeInto(sb, table, TABLE_END, TABLE_END);
        sb.append(TABLE_END);
        boolean first = true;
        for (String row : rows) {
            if (!first) {
                sb.append(ROW_SEPARATOR);
            }
            sb.append(row);
            first = false;
        }
        return sb.toString();
    }

    /**
     * Splits a lock key at its first unescaped {@code :} and its unescaped {@code ,}. Tokens are
     * returned as written: an RM from before escaping existed sent a backslash unescaped, and that
     * text still names one row.
     *
     * @throws IllegalArgumentException naming the key when it has no table or no {@code :}
     */
    public static Parsed parse(String lockKey) {
        int colon = indexOfUnescaped(lockKey, TABLE_END, 0);
        if (colon <= 0) {
            throw new IllegalArgumentException("Malformed lock key '" + lockKey
                    + "': expected <table>:<pk>[,<pk>...] (a table name, then ':')");
        }
        List<String> rows = new ArrayList<>();
        int start = colon + 1;
        while (true) {
            int comma = indexOfUnescaped(lockKey, ROW_SEPARATOR, start);
            if (comma < 0) {
                rows.add(lockKey.substring(start));
                return new Parsed(lockKey.substring(0, colon), rows);
            }
            rows.add(lockKey.substring(start, comma));
            start = comma + 1;
        }
    }

    /** The primary-key values of a row token (the inverse of {@link #row(List)}). */
    public static List<String> values(String rowToken) {
        List<String> values = new ArrayList<>();
        int start = 0;
        while (true) {
            int sep = indexOfUnescaped(rowToken, VALUE_SEPARATOR, start);
            if (sep < 0) {
                values.add(unescape(rowToken.substring(start)));
                return values;
            }
            values.add(unescape(rowToken.substring(start, sep)));
            start = sep + 1;
        }
    }

    /** The plain text of a table token (or of any escaped text). */
    public static String unescape(String token) {
        if (token.indexOf(ESCAPE) < 0) {
            return token;
        }
        StringBuilder sb = new StringBuilder(token.length());
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c == ESCAPE && i + 1 < token.length()) {
                c = token.charAt(++i);
            }
            sb.append(c);
        }
        return sb.toString();
    }

    /** Appends {@code text} with the escape character and {@code special1}/{@code special2} escaped. */
    private static void escapeInto(StringBuilder sb, String text, char special1, char special2) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ESCAPE || c == special1 || c == special2) {
                sb.append(ESCAPE);
            }
            sb.append(c);
        }
    }

    private static int indexOfUnescaped(String text, char wanted, int from) {
        for (int i = from; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ESCAPE) {
                i++;
            } else if (c == wanted) {
                return i;
            }
        }
        return -1;
    }
}
