package io.cohort.rm.jdbc;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Table metadata by the table name as written in SQL, loaded once per data source. A schema change
 * that adds or drops columns needs a restart of the application (README, Limitations).
 */
final class TableMetaCache {

    private final Dialect dialect;
    private final ConcurrentHashMap<String, TableMeta> tables = new ConcurrentHashMap<>();

    TableMetaCache(Dialect dialect) {
        this.dialect = dialect;
    }

    /** The table {@code tableAsWritten} resolves to on {@code connection}; fails if there is none. */
    TableMeta get(Connection connection, String tableAsWritten) throws SQLException {
        TableMeta meta = tables.get(tableAsWritten);
        if (meta == null) {
            meta = dialect.loadTableMeta(connection, tableAsWritten);
            if (meta == null) {
                throw new SQLException("Table " + tableAsWritten + " does not exist (or is not visible on the search path)",
                        "42P01");
            }
            tables.put(tableAsWritten, meta);
        }
        return meta;
    }
}
