package io.cohort.tc.store.postgres;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/**
 * Where the PostgreSQL store connects. Validated when built, so a bad value fails the TC at start
 * with the property named, not at the first transaction.
 *
 * @param url         JDBC URL, {@code jdbc:postgresql://host:port/database}
 * @param username    database user
 * @param password    password (may be empty, e.g. with trust or certificate authentication)
 * @param maxPoolSize connections in the pool; also the number of store worker threads
 */
public record PostgresStoreConfig(String url, String username, String password, int maxPoolSize) {

    /** Largest pool accepted: more connections than this only add contention on the server. */
    public static final int MAX_POOL_SIZE = 500;

    /** How long a store call waits for a free connection before it fails as unavailable. */
    static final long CONNECTION_TIMEOUT_MS = 5_000;

    public PostgresStoreConfig {
        if (url == null || !url.startsWith("jdbc:postgresql:")) {
            throw new IllegalArgumentException(
                    "cohort.store.postgres.url must be a jdbc:postgresql: URL, was '" + url + "'");
        }
        if (username == null || username.isBlank()) {
            throw new IllegalArgumentException(
                    "cohort.store.postgres.username must not be blank, was '" + username + "'");
        }
        if (maxPoolSize < 1 || maxPoolSize > MAX_POOL_SIZE) {
            throw new IllegalArgumentException("cohort.store.postgres.max-pool-size must be between 1 and "
                    + MAX_POOL_SIZE + ", was " + maxPoolSize);
        }
        password = password == null ? "" : password;
    }

    /**
     * Plans every statement for its arguments and the tables as they are now, at each execution.
     * PostgreSQL otherwise switches a prepared statement to a generic plan after five executions
     * and keeps it for the connection's life: made while the tables were nearly empty (a new
     * database) and not replaced while no ANALYZE runs (autovacuum off), that plan scanned all of
     * {@code cohort_global_tx}, which keeps every finished transaction until the purge, in every
     * batch of status changes and registrations (README "The TC alone", "plans").
     */
    static final String PLAN_PER_EXECUTION = "SET plan_cache_mode = force_custom_plan";

    /** A fixed-size HikariCP pool for the store; the caller owns (and closes) it. */
    HikariDataSource createPool() {
        HikariConfig hikari = new HikariConfig();
        hikari.setPoolName("cohort-tc-store");
        hikari.setJdbcUrl(url);
        hikari.setUsername(username);
        hikari.setPassword(password);
        hikari.setMaximumPoolSize(maxPoolSize);
        hikari.setMinimumIdle(maxPoolSize); // fixed size: no connection setup on the hot path
        hikari.setConnectionTimeout(CONNECTION_TIMEOUT_MS);
        hikari.setConnectionInitSql(PLAN_PER_EXECUTION);
        hikari.addDataSourceProperty("ApplicationName", "cohort-tc");
        hikari.addDataSourceProperty("tcpKeepAlive", "true");
        return new HikariDataSource(hikari);
    }

    /** Never prints the password. */
    @Override
    public String toString() {
        return "PostgresStoreConfig[url=" + url + ", username=" + username + ", password="
                + (password.isEmpty() ? "" : "****") + ", maxPoolSize=" + maxPoolSize + "]";
    }
}
