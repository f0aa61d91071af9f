package io.cohort.rm.jdbc;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.SQLException;
import java.util.Locale;

/** Which {@link Dialect} a database needs, told by its connection: no setting needed. */
final class Dialects {

    private Dialects() {
    }

    /**
     * By the server's product name, else the JDBC URL's scheme (MySQL's driver calls a MariaDB server
     * "MySQL"; both take the same dialect).
     */
    static Dialect of(Connection connection) throws SQLException {
        DatabaseMetaData md = connection.getMetaData();
        String product = String.valueOf(md.getDatabaseProductName()).toLowerCase(Locale.ROOT);
        String url = String.valueOf(md.getURL()).toLowerCase(Locale.ROOT);
        if (product.contains("postgres") || url.startsWith("jdbc:postgresql:")) {
            return new PostgresDialect();
        }
        if (product.contains("mysql") || product.contains("mariadb") || url.startsWith("jdbc:mysql:")
                || url.startsWith("jdbc:mariadb:")) {
            return new MySqlDialect();
        }
        throw new SQLException("Cohort's RM supports PostgreSQL, MySQL 8 and MariaDB 10.11+, not "
                + md.getDatabaseProductName() + " " + md.getDatabaseProductVersion() + " (" + md.getURL()
                + "); wrap only data sources of those databases", "0A000");
    }
}
