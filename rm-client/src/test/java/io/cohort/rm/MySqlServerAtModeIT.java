package io.cohort.rm;

import io.cohort.testsupport.TestMariaDb;
import java.sql.SQLException;

/**
 * {@link MariaDbAtModeIT}'s suite against a MySQL 8 server through MySQL Connector/J: the server in
 * {@code COHORT_TEST_MYSQL_URL}, else a {@code mysql:8.4} container where a Docker engine answers;
 * skipped, saying so, with neither.
 */
class MySqlServerAtModeIT extends MariaDbAtModeIT {

    @Override
    boolean serverAvailable() {
        return TestMariaDb.mysqlAvailable();
    }

    @Override
    String serverMissing() {
        return TestMariaDb.MYSQL_MISSING;
    }

    @Override
    TestMariaDb server() {
        return TestMariaDb.mysql();
    }

    @Override
    String jdbcUrl(String mysqlUrl) {
        return mysqlUrl + "?allowPublicKeyRetrieval=true";
    }

    /** MySQL 8 lists row-lock waits in {@code performance_schema} (on by default); its processlist has no {@code time_ms}. */
    @Override
    long sessionsWaitingForARowLock() throws SQLException {
        return count("SELECT count(*) FROM performance_schema.data_lock_waits");
    }

    @Override
    String expectedDriver() {
        return "MySQL Connector/J";
    }
}
