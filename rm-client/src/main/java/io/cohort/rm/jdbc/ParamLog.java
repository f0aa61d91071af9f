package io.cohort.rm.jdbc;

import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Arrays;

/**
 * The parameters bound to a prepared statement, by their 1-based index, each as a setter that can
 * be replayed onto another statement at another index (the RM's rewritten SQL orders them
 * differently). Only kept inside a global transaction. Written by the JDBC layer's prepared
 * statements, read by the executors.
 */
final class ParamLog {

    /** Binds one recorded value at {@code index} of {@code ps}. */
    @FunctionalInterface
    interface BoundParam {
        void bind(PreparedStatement ps, int index) throws SQLException;
    }

    private BoundParam[] values = new BoundParam[8];
    /** Per index, the value's text when it was bound as a Java integer (setShort, setInt, setLong, setObject), else null. */
    private String[] integerTexts = new String[8];
    private int size;

    /** Records the value bound at 1-based {@code index}, replacing an earlier one. */
    void put(int index, BoundParam param) {
        if (index >= values.length) {
            int length = Math.max(index + 1, values.length * 2);
            values = Arrays.copyOf(values, length);
            integerTexts = Arrays.copyOf(integerTexts, length);
        }
        values[index] = param;
        integerTexts[index] = null;
        size = Math.max(size, index);
    }

    /** After {@link #put}: the value just bound at {@code index} is this Java integer (its text is the server's). */
    void markInteger(int index, long value) {
        integerTexts[index] = Long.toString(value);
    }

    /** The text of the integer bound at {@code index}, or null when something else (or nothing) is bound there. */
    String integerText(int index) {
        return index < integerTexts.length ? integerTexts[index] : null;
    }

    void clear() {
        Arrays.fill(values, null);
        Arrays.fill(integerTexts, null);
        size = 0;
    }

    /** A frozen copy, for a batch entry. */
    ParamLog copy() {
        ParamLog c = new ParamLog();
        c.values = Arrays.copyOf(values, values.length);
        c.integerTexts = Arrays.copyOf(integerTexts, integerTexts.length);
        c.size = size;
        return c;
    }

    /** Highest index bound. */
    int size() {
        return size;
    }

    /** Binds the parameter recorded at {@code originalIndex} to {@code target} at {@code targetIndex}. */
    void bind(PreparedStatement target, int targetIndex, int originalIndex) throws SQLException {
        BoundParam p = originalIndex < values.length ? values[originalIndex] : null;
        if (p == null) {
            throw new SQLException("No value specified for parameter " + originalIndex, "07001");
        }
        p.bind(target, targetIndex);
    }

    /** Binds all parameters in their original order. */
    void bindAll(PreparedStatement target) throws SQLException {
        for (int i = 1; i <= size; i++) {
            bind(target, i, i);
        }
    }
}
