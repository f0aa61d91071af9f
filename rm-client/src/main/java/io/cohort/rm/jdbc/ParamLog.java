package io.cohort.rm.jdbc;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.StringWriter;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Arrays;

/**
 * The parameters bound to a prepared statement, by their 1-based index, each as a setter that can
 * be replayed onto another statement at another index (the RM's rewritten SQL orders them
 * differently). Only kept inside a global transaction.
 */
public final class ParamLog {

    /** Binds one recorded value at {@code index} of {@code ps}. */
    @FunctionalInterface
    public interface BoundParam {
        void bind(PreparedStatement ps, int index) throws SQLException;
    }

    private BoundParam[] values = new BoundParam[8];
    private int size;

    void put(int index, BoundParam param) {
        if (index >= values.length) {
            values = Arrays.copyOf(values, Math.max(index + 1, values.length * 2));
        }
        values[index] = param;
        size = Math.max(size, index);
    }

    void clear() {
        Arrays.fill(values, null);
        size = 0;
    }

    /** A frozen copy, for a batch entry. */
    ParamLog copy() {
        ParamLog c = new ParamLog();
        c.values = Arrays.copyOf(values, values.length);
        c.size = size;
        return c;
    }

    /** Highest index bound. */
    public int size() {
        return size;
    }

    /** Binds the parameter recorded at {@code originalIndex} to {@code target} at {@code targetIndex}. */
    public void bind(PreparedStatement target, int targetIndex, int originalIndex) throws SQLException {
        BoundParam p = originalIndex < values.length ? values[originalIndex] : null;
        if (p == null) {
            throw new SQLException("No value specified for parameter " + originalIndex, "07001");
        }
        p.bind(target, targetIndex);
    }

    /** Binds all parameters in their original order. */
    public void bindAll(PreparedStatement target) throws SQLException {
        for (int i = 1; i <= size; i++) {
            bind(target, i, i);
        }
    }

    static byte[] readAll(InputStream in) throws SQLException {
        if (in == null) {
            return null;
        }
        try (in) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new SQLException("Could not read the stream bound as a parameter: " + e.getMessage(), e);
        }
    }

    static String readAll(Reader in) throws SQLException {
        if (in == null) {
            return null;
        }
        try (in) {
            StringWriter w = new StringWriter();
            in.transferTo(w);
            return w.toString();
        } catch (IOException e) {
            throw new SQLException("Could not read the reader bound as a parameter: " + e.getMessage(), e);
        }
    }
}
