package io.cohort.testsupport;

import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;

/**
 * A real MariaDB server for tests, found in this order:
 * <ol>
 *   <li>the JDBC URL in {@code COHORT_TEST_MARIADB_URL} (e.g. {@code jdbc:mariadb://127.0.0.1:3306/}; user and
 *       password in {@code COHORT_TEST_MARIADB_USER} / {@code COHORT_TEST_MARIADB_PASSWORD}, default {@code root} /
 *       empty);</li>
 *   <li>a {@code mariadb:10.11} container, when a Docker engine answers.</li>
 * </ol>
 * {@link #available()} is false when there is neither: tests then skip with an assumption that says so.
 * One server per JVM; each test class asks for its own fresh database with {@link #createDatabase}.
 *
 * <p>{@link #mysql()} is the same for a MySQL 8 server (MySQL Connector/J URLs): {@code COHORT_TEST_MYSQL_URL}
 * (e.g. {@code jdbc:mysql://127.0.0.1:3306/}, {@code COHORT_TEST_MYSQL_USER} / {@code COHORT_TEST_MYSQL_PASSWORD})
 * or a {@code mysql:8.4} container; the caller needs Connector/J on its classpath.
 */
public final class TestMariaDb {

    private static final Logger log = LoggerFactory.getLogger(TestMariaDb.class);
    /** Why there is no server, when there is none. */
    public static final String MISSING = "No MariaDB for tests: set COHORT_TEST_MARIADB_URL (e.g. "
            + "jdbc:mariadb://127.0.0.1:3306/) or run Docker";
    /** Why there is no MySQL server, when there is none. */
    public static final String MYSQL_MISSING = "No MySQL 8 for tests: set COHORT_TEST_MYSQL_URL (e.g. "
            + "jdbc:mysql://127.0.0.1:3306/) or run Docker";
    private static volatile TestMariaDb instance;
    private static volatile boolean looked;
    private static volatile TestMariaDb mysqlInstance;
    private static volatile boolean mysqlLooked;

    private final String baseUrl; // jdbc:mariadb://host:port/
    private final String user;
    private final String password;

    private TestMariaDb(String baseUrl, String user, String password) {
        this.baseUrl = baseUrl;
        this.user = user;
        this.password = password;
    }

    /** Whether a server can be had; looks (and starts a container) once. */
    public static boolean available() {
        if (!looked) {
            synchronized (TestMariaDb.class) {
                if (!looked) {
                    instance = start();
                    looked = true;
                    if (instance != null) {
                        log.info("Tests use MariaDB at {}", instance.baseUrl);
                    }
                }
            }
        }
        return instance != null;
    }

    /** The shared server; call {@link #available()} first (as a JUnit assumption). */
    public static TestMariaDb get() {
        if (!available()) {
            throw new IllegalStateException(MISSING);
        }
        return instance;
    }

    /** Whether a MySQL 8 server can be had; looks (and starts a container) once. */
    public static boolean mysqlAvailable() {
        if (!mysqlLooked) {
            synchronized (TestMariaDb.class) {
                if (!mysqlLooked) {
                    mysqlInstance = startMysql();
                    mysqlLooked = true;
                    if (mysqlInstance != null) {
                        log.info("Tests use MySQL at {}", mysqlInstance.baseUrl);
                    }
                }
            }
        }
        return mysqlInstance != null;
    }

    /** The shared MySQL 8 server; call {@link #mysqlAvailable()} first (as a JUnit assumption). */
    public static TestMariaDb mysql() {
        if (!mysqlAvailable()) {
            throw new IllegalStateException(MYSQL_MISSING);
        }
        return mysqlInstance;
    }

    private static TestMariaDb startMysql() {
        String url = System.getenv("COHORT_TEST_MYSQL_URL");
        if (url != null && !url.isBlank()) {
            return new TestMariaDb(TestDatabases.serverUrl(url), TestDatabases.envOr("COHORT_TEST_MYSQL_USER", "root"),
                    TestDatabases.envOr("COHORT_TEST_MYSQL_PASSWORD", ""));
        }
        if (!TestDatabases.dockerAvailable()) {
            return null;
        }
        GenericContainer<?> container = new GenericContainer<>("mysql:8.4")
                .withEnv("MYSQL_ROOT_PASSWORD", "cohort")
                .withExposedPorts(3306)
                .waitingFor(Wait.forLogMessage(".*ready for connections.*port: 3306.*", 1));
        container.start();
        Runtime.getRuntime().addShutdownHook(new Thread(container::stop));
        return new TestMariaDb("jdbc:mysql://" + container.getHost() + ":" + container.getMappedPort(3306) + "/",
                "root", "cohort");
    }

    private static TestMariaDb start() {
        String url = System.getenv("COHORT_TEST_MARIADB_URL");
        if (url != null && !url.isBlank()) {
            return new TestMariaDb(TestDatabases.serverUrl(url), TestDatabases.envOr("COHORT_TEST_MARIADB_USER", "root"),
                    TestDatabases.envOr("COHORT_TEST_MARIADB_PASSWORD", ""));
        }
        if (!TestDatabases.dockerAvailable()) {
            return null;
        }
        GenericContainer<?> container = new GenericContainer<>("mariadb:10.11")
                .withEnv("MARIADB_ROOT_PASSWORD", "cohort")
                .withExposedPorts(3306)
                .waitingFor(Wait.forLogMessage(".*ready for connections.*", 2));
        container.start();
        Runtime.getRuntime().addShutdownHook(new Thread(container::stop));
        return new TestMariaDb("jdbc:mariadb://" + container.getHost() + ":" + container.getMappedPort(3306) + "/",
                "root", "cohort");
    }

    /** Creates a new, empty database (utf8mb4) whose name starts with {@code prefix}; returns its JDBC URL. */
    public String createDatabase(String prefix) {
        String name = TestDatabases.freshName(prefix);
        try (Connection c = DriverManager.getConnection(baseUrl, user, password); Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + name);
            s.execute("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        } catch (SQLException e) {
            throw new IllegalStateException("Could not create test database " + name + " on " + baseUrl, e);
        }
        return baseUrl + name;
    }

    /** {@link #createDatabase}'s URL with the scheme of another driver (e.g. {@code jdbc:mysql:}). */
    public static String withScheme(String jdbcUrl, String scheme) {
        return scheme + jdbcUrl.substring(jdbcUrl.indexOf("//"));
    }

    public String user() {
        return user;
    }

    public String password() {
        return password;
    }

    public HikariDataSource dataSource(String jdbcUrl, int maxPoolSize) {
        return TestDatabases.pool(jdbcUrl, user, password, maxPoolSize);
    }
}
