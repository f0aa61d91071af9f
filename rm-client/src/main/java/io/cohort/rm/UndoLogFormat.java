package io.cohort.rm;

import java.util.Locale;

/**
 * How the RM writes its undo logs ({@code cohort.rm.undo-log-format}). Either is read by this
 * version, whatever the setting (the log's first byte names its form), so switching is safe in both
 * directions; what matters is which RMs may have to roll the log back.
 */
public enum UndoLogFormat {

    /** JSON ({@code 'J'}, deflated {@code 'Z'}): every RM version reads it. The default. */
    JSON,

    /**
     * The compact binary form ({@code 'B'}, deflated {@code 'D'}): about a third of JSON's bytes and
     * cheaper to write, but RMs before it came cannot read it, so only once every RM writing to the
     * database runs a version that can (a rolling deploy mixes versions).
     */
    BINARY;

    /** {@code json} or {@code binary} (any case); anything else names the property and the accepted values. */
    public static UndoLogFormat parse(String value) {
        if (value != null) {
            for (UndoLogFormat f : values()) {
                if (f.name().equalsIgnoreCase(value.trim())) {
                    return f;
                }
            }
        }
        throw new IllegalArgumentException("Invalid cohort.rm.undo-log-format: " + value
                + " (accepted: json, binary)");
    }

    /** The property's spelling. */
    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
