package io.cohort.rm.jdbc;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** The results of the last statement the RM ran in the application's place, as JDBC's getters expose them. */
final class ResultState {

    private final Outcome outcome;
    private boolean moved;

    ResultState(Outcome outcome) {
        this.outcome = outcome;
    }

    ResultSet resultSet() {
        return moved ? null : outcome.resultSet();
    }

    long updateCount() {
        return moved || outcome.resultSet() != null ? -1 : outcome.updateCount();
    }

    ResultSet generatedKeys() {
        return outcome.generatedKeys();
    }

    boolean moreResults() throws SQLException {
        if (!moved && outcome.resultSet() != null) {
            outcome.resultSet().close();
        }
        moved = true;
        return false;
    }

    void close() throws SQLException {
        if (outcome.resultSet() != null) {
            outcome.resultSet().close();
        }
        if (outcome.generatedKeys() != null) {
            outcome.generatedKeys().close();
        }
    }

    /** A large update count as JDBC's int one: a count over {@code Integer.MAX_VALUE} is "succeeded, count unknown". */
    static int toInt(long count) {
        return count > Integer.MAX_VALUE ? Statement.SUCCESS_NO_INFO : (int) count;
    }
}
