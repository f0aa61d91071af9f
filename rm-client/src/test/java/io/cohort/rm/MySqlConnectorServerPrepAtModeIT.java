package io.cohort.rm;

import io.cohort.testsupport.TestMariaDb;

/**
 * {@link MariaDbAtModeIT}'s suite through MySQL Connector/J with server-side prepared statements,
 * cached and so reused after their first run ({@code useServerPrepStmts=true&cachePrepStmts=true}):
 * the binary protocol, MySQL's analogue of pgJDBC's binary transfer after its prepare threshold.
 */
class MySqlConnectorServerPrepAtModeIT extends MariaDbAtModeIT {

    @Override
    String jdbcUrl(String mariaDbUrl) {
        return TestMariaDb.withScheme(mariaDbUrl, "jdbc:mysql:") + "?sslMode=DISABLED&useServerPrepStmts=true"
                + "&cachePrepStmts=true";
    }

    @Override
    String expectedDriver() {
        return "MySQL Connector/J";
    }

    @Override
    boolean serverPrepared() {
        return true;
    }
}
