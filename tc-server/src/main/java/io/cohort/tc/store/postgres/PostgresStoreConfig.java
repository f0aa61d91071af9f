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
     * How the store's sessions plan: every statement is planned once per connection and the plan kept
     * (a generic plan), and the only access paths left are key lookups (index scans joined in nested
     * loops), so that plan stays right whatever the tables' size. Every statement of the store finds
     * its rows by key, a few at a time. PostgreSQL otherwise plans each execution for its arguments
     * (a quarter of its time on the store's statements), or, left to choose, keeps a generic plan
     * made while the tables were nearly empty, which scanned all of {@code cohort_global_tx} in every
     * batch once it was large ({@code PostgresPlansTest}). A plain index scan (no bitmap scan) also
     * marks the entries of rows that are gone, so the caps' count of unfinished transactions reads
     * only what finished since the last count, not everything since the last VACUUM. The costs that
     * turning the other paths off adds are large enough to reach the JIT's threshold and to make a
     * parallel plan look worth it, hence neither. A query with no key to use (a listing of the
     * REST API filtered on a column without index) still scans the table.
     */
    static final String KEY_LOOKUP_PLANS = String.join("; ",
            "SET plan_cache_mode = force_generic_plan",
            "SET enable_seqscan = off",
            "SET enable_bitmapscan = off",
            "SET enable_hashjoin = off",
            "SET enable_mergejoin = off",
            "SET jit = off",
            "SET max_parallel_workers_per_gather = 0");

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
        hikari.setConnectionInitSql(KEY_LOOKUP_PLANS);
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
