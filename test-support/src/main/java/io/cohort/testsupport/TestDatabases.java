package io.cohort.testsupport;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import org.testcontainers.DockerClientFactory;

/** What {@link TestPostgres} and {@link TestMariaDb} share: finding a server, naming databases, pools. */
final class TestDatabases {

    private static final AtomicInteger DATABASE_SEQUENCE = new AtomicInteger();

    private TestDatabases() {
    }

    static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (Throwable t) {
            return false;
        }
    }

    static String envOr(String name, String fallback) {
        String v = System.getenv(name);
        return v == null ? fallback : v;
    }

    /** {@code jdbc:<driver>://host:port/db?x} becomes {@code jdbc:<driver>://host:port/}. */
    static String serverUrl(String jdbcUrl) {
        int hostStart = jdbcUrl.indexOf("//");
        int slash = jdbcUrl.indexOf('/', hostStart + 2);
        return slash < 0 ? jdbcUrl + "/" : jdbcUrl.substring(0, slash + 1);
    }

    /** A database name no other test of this JVM or of another build on the server uses, starting with {@code prefix}. */
    static String freshName(String prefix) {
        return (prefix + "_" + ProcessHandle.current().pid() + "_" + DATABASE_SEQUENCE.incrementAndGet())
                .toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]", "_");
    }

    /** A pool of at most {@code maxPoolSize} connections to {@code jdbcUrl}. */
    static HikariDataSource pool(String jdbcUrl, String user, String password, int maxPoolSize) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(jdbcUrl);
        config.setUsername(user);
        config.setPassword(password);
        config.setMaximumPoolSize(maxPoolSize);
        return new HikariDataSource(config);
    }
}
