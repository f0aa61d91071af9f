package io.cohort.rm;

import io.cohort.testsupport.TestMariaDb;

/**
 * {@link MariaDbAtModeIT}'s suite through MySQL Connector/J ({@code jdbc:mysql:}) against the
 * MariaDB server: the driver's own generated keys, TIME/DATETIME/TIMESTAMP, BIT and YEAR handling
 * and session time zones, with the text protocol.
 */
class MySqlConnectorAtModeIT extends MariaDbAtModeIT {

    @Override
    String jdbcUrl(String mariaDbUrl) {
        return TestMariaDb.withScheme(mariaDbUrl, "jdbc:mysql:") + "?sslMode=DISABLED";
    }

    @Override
    String expectedDriver() {
        return "MySQL Connector/J";
    }
}
