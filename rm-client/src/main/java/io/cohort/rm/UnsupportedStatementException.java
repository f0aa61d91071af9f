package io.cohort.rm;

import java.sql.SQLFeatureNotSupportedException;

/**
 * A statement the RM cannot make safe inside a global transaction (or under a global lock). Thrown
 * before the statement runs, so nothing happened. SQLState {@code 0A000} (feature not supported).
 */
public class UnsupportedStatementException extends SQLFeatureNotSupportedException {

    public UnsupportedStatementException(String sql, String reason, String whatToDo) {
        super("Cohort AT mode cannot run this statement inside a global transaction: " + reason + ". " + whatToDo
                + " Statement: " + abbreviate(sql), "0A000");
    }

    static String abbreviate(String sql) {
        String oneLine = sql.replaceAll("\\s+", " ").trim();
        return oneLine.length() <= 300 ? oneLine : oneLine.substring(0, 300) + "...";
    }
}
