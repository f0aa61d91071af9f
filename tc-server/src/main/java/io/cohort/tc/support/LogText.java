package io.cohort.tc.support;

/**
 * Makes text from outside the TC (client ids, paths, reasons) safe to log or echo back: control
 * characters are escaped, so a newline cannot forge a log line, and long values are cut, so one
 * request cannot fill the log.
 */
public final class LogText {

    /** Longest value logged or echoed in full. */
    public static final int MAX_LENGTH = 200;

    private LogText() {
    }

    public static String safe(String value) {
        return safe(value, MAX_LENGTH);
    }

    /** As {@link #safe(String)}, for text worth more room (an RM's reason, evidence of a heuristic outcome). */
    public static String safe(String value, int maxLength) {
        if (value == null) {
            return "null";
        }
        int end = Math.min(value.length(), maxLength);
        if (end == value.length() && !needsEscape(value)) {
            return value; // the common case (every call's XID goes through here): nothing to copy
        }
        StringBuilder out = new StringBuilder(end + 16);
        for (int i = 0; i < end; i++) {
            char c = value.charAt(i);
            switch (c) {
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\\' -> out.append("\\\\");
                default -> {
                    if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        if (value.length() > end) {
            out.append("...(").append(value.length()).append(" chars)");
        }
        return out.toString();
    }

    private static boolean needsEscape(String value) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\\' || Character.isISOControl(c) || c == '\u2028' || c == '\u2029') {
                return true;
            }
        }
        return false;
    }
}
