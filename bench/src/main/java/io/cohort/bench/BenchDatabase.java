package io.cohort.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * The server the transfer benchmark's two databases live on, and what it costs in CPU: PostgreSQL
 * (embedded, or the server of a {@code jdbc:postgresql:} URL) or MariaDB (the server of a
 * {@code jdbc:mariadb:} URL). Each database gets the same {@code account} table, the same accounts
 * and the RM's DDL from {@code sql/rm}; what differs between the servers is here and nowhere else.
 */
abstract sealed class BenchDatabase implements AutoCloseable {

    /** CPU consumed so far: the server's work for the benchmark's connections, and its own background work. */
    /**
     * The name of one of the bench's databases, with the suffix in {@code COHORT_BENCH_DB_SUFFIX}
     * (lower-case letters, digits and {@code _}) so that runs side by side on one server do not drop
     * each other's databases.
     */
    static String named(String base) {
        String suffix = System.getenv().getOrDefault("COHORT_BENCH_DB_SUFFIX", "");
        if (!suffix.matches("[a-z0-9_]*")) {
            throw new IllegalArgumentException("COHORT_BENCH_DB_SUFFIX='" + suffix
                    + "': use lower-case letters, digits and _ only (it is appended to database names)");
        }
        return base + suffix;
    }

    record CpuSample(long backends, long background) {
    }

    final String serverUrl; // jdbc:<driver>://host:port/
    final String user;
    final String password;

    private BenchDatabase(String serverUrl, String user, String password) {
        this.serverUrl = serverUrl;
        this.user = user;
        this.password = password;
    }

    /** The server {@code jdbcUrl} names (its database part is ignored), or embedded PostgreSQL when it is null. */
    static BenchDatabase open(String jdbcUrl, String user, String password, List<String> databases) throws IOException {
        if (jdbcUrl == null) {
            return new Postgres(databases);
        }
        String server = jdbcUrl.substring(0, jdbcUrl.indexOf('/', jdbcUrl.indexOf("//") + 2) + 1);
        return jdbcUrl.startsWith("jdbc:mariadb:") ? new MariaDb(server, user, password)
                : new Postgres(server, user, password, databases);
    }

    /** {@code postgresql} or {@code mariadb}, as the JSON lines say. */
    abstract String kind();

    abstract CpuSample cpu() throws SQLException;

    /** The RM's DDL on the classpath ({@code sql/rm}). */
    abstract String rmDdlResource();

    abstract List<String> dropAndCreate(String database);

    /** Fresh statistics after the accounts are in, so the first driver does not pay for them. */
    abstract String analyze();

    /**
     * Drops and creates {@code name} with {@code accounts} accounts (ids 1..accounts) and the RM's tables;
     * returns its pool, {@code poolSize} connections open.
     */
    HikariDataSource create(String name, int accounts, int poolSize) throws SQLException, IOException {
        try (Connection c = DriverManager.getConnection(serverUrl + adminDatabase(), user, password);
             Statement s = c.createStatement()) {
            for (String sql : dropAndCreate(name)) {
                s.execute(sql);
            }
        }
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(serverUrl + name);
        config.setUsername(user);
        config.setPassword(password);
        config.setMaximumPoolSize(poolSize);
        config.setMinimumIdle(poolSize);
        HikariDataSource ds = new HikariDataSource(config);
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("create table account (id bigint primary key, owner varchar(100) not null, balance bigint not null)");
            try (PreparedStatement insert = c.prepareStatement("insert into account (id, owner, balance) values (?, ?, ?)")) {
                for (long id = 1; id <= accounts; id++) {
                    insert.setLong(1, id);
                    insert.setString(2, "owner-" + id);
                    insert.setLong(3, 1_000_000_000_000L);
                    insert.addBatch();
                }
                insert.executeBatch();
            }
            for (String ddl : rmDdl()) {
                s.execute(ddl);
            }
            s.execute(analyze());
        }
        return ds;
    }

    /** The database a connection for CREATE DATABASE goes to. */
    abstract String adminDatabase();

    /** How many more connections the server accepts now: its limit less the connections open. */
    int freeConnections() throws SQLException {
        try (Connection c = DriverManager.getConnection(serverUrl + adminDatabase(), user, password);
             Statement s = c.createStatement(); ResultSet rs = s.executeQuery(freeConnectionsQuery())) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /** One row, one column: the server's connection limit less the connections open (this one included). */
    abstract String freeConnectionsQuery();

    /** The RM's DDL as statements to run one by one (MariaDB's driver takes one per call). */
    List<String> rmDdl() throws IOException {
        String text;
        try (InputStream in = BenchDatabase.class.getResourceAsStream(rmDdlResource())) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        List<String> statements = new ArrayList<>();
        for (String statement : text.split(";\\s*\\n")) {
            if (!statement.replaceAll("(?m)^\\s*--.*$", "").isBlank()) {
                statements.add(statement);
            }
        }
        return statements;
    }

    @Override
    public void close() throws IOException {
    }

    /**
     * PostgreSQL. <b>Backends</b>: every backend process connected to the benchmark's databases (both
     * pools, found in {@code pg_stat_activity} at each sample), whatever the driver. <b>Background</b>:
     * the server's own processes (WAL writer, checkpointer, background writer, autovacuum, ...), which
     * do the benchmark's WAL flushing but are shared with anyone else using that server: with the
     * embedded server (the default) nobody else does; with {@code --db-url} on a shared server they
     * carry the other users' load too. Backends that exit during the window take their CPU with them;
     * the pools keep theirs open.
     */
    static final class Postgres extends BenchDatabase {

        private final EmbeddedPostgres embedded;
        private final List<String> databases;

        /** Durable, like production: fsync and synchronous commit on (the embedded default turns the latter off). */
        Postgres(List<String> databases) throws IOException {
            this(EmbeddedPostgres.builder().setServerConfig("fsync", "on").setServerConfig("synchronous_commit", "on")
                    .setServerConfig("max_connections", "300").start(), databases);
        }

        private Postgres(EmbeddedPostgres embedded, List<String> databases) {
            super("jdbc:postgresql://127.0.0.1:" + embedded.getPort() + "/", "postgres", "");
            this.embedded = embedded;
            this.databases = databases;
        }

        Postgres(String serverUrl, String user, String password, List<String> databases) {
            super(serverUrl, user, password);
            this.embedded = null;
            this.databases = databases;
        }

        @Override
        String kind() {
            return "postgresql";
        }

        @Override
        String adminDatabase() {
            return "postgres";
        }

        @Override
        List<String> dropAndCreate(String database) {
            return List.of("drop database if exists " + database, "create database " + database);
        }

        @Override
        String freeConnectionsQuery() {
            return "select current_setting('max_connections')::int - count(*) from pg_stat_activity "
                    + "where backend_type = 'client backend'";
        }

        @Override
        String rmDdlResource() {
            return "/db/rm/postgresql.sql";
        }

        @Override
        List<String> rmDdl() throws IOException {
            try (InputStream in = BenchDatabase.class.getResourceAsStream(rmDdlResource())) {
                return List.of(new String(in.readAllBytes(), StandardCharsets.UTF_8)); // dollar-quoted bodies: one call
            }
        }

        @Override
        String analyze() {
            return "vacuum analyze account";
        }

        @Override
        CpuSample cpu() throws SQLException {
            CpuSample listed = processes(serverUrl + adminDatabase(), user, password, databases);
            if (embedded == null) {
                return listed;
            }
            // The embedded postmaster itself (not listed in pg_stat_activity): ours alone.
            int port = embedded.getPort();
            long postmaster = ProcessHandle.allProcesses()
                    .filter(p -> comm(p.pid()).equals("postgres"))
                    .filter(p -> p.info().arguments().map(a -> String.join(" ", a).contains("-p " + port)).orElse(false))
                    .mapToLong(p -> TcBench.cpuNanos(p.pid())).sum();
            return new CpuSample(listed.backends(), listed.background() + postmaster);
        }

        /**
         * CPU so far of the processes of the server at {@code url} that {@code pg_stat_activity} lists
         * (read from /proc: 0 for a server on another machine): as backends, the client backends
         * connected to {@code databases}; as background, the server's own processes. Client backends of
         * other databases count in neither, nor does the connection that asks.
         */
        static CpuSample processes(String url, String user, String password, Collection<String> databases)
                throws SQLException {
            long backends = 0;
            long background = 0;
            try (Connection c = DriverManager.getConnection(url, user, password);
                 Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("select pid, coalesce(datname, ''), coalesce(backend_type, '') "
                         + "from pg_stat_activity where pid <> pg_backend_pid()")) {
                while (rs.next()) {
                    long cpu = TcBench.cpuNanos(rs.getLong(1));
                    if (rs.getString(3).equals("client backend")) {
                        backends += databases.contains(rs.getString(2)) ? cpu : 0;
                    } else {
                        background += cpu;
                    }
                }
            }
            return new CpuSample(backends, background);
        }

        @Override
        public void close() throws IOException {
            if (embedded != null) {
                embedded.close();
            }
        }
    }

    /**
     * MariaDB: one process, {@code mariadbd}, whose threads serve the connections and do the
     * background work (InnoDB's log flushing, purge). Telling them apart needs performance_schema
     * (off by default), so the whole process counts as <b>backends</b> and background is 0: on a
     * server others use too, their load is in the figure. The process is found from the server's
     * pid file, else as the one {@code mariadbd} (or {@code mysqld}) on this machine; a server
     * elsewhere is not measured (0, said once at the start).
     */
    static final class MariaDb extends BenchDatabase {

        private final long pid;

        MariaDb(String serverUrl, String user, String password) {
            super(serverUrl, user, password);
            this.pid = findServerProcess();
            if (pid < 0) {
                System.err.println("No mariadbd process of " + serverUrl + " found on this machine: its CPU is not "
                        + "measured (db_backends 0)");
            }
        }

        private long findServerProcess() {
            try (Connection c = DriverManager.getConnection(serverUrl, user, password); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("select @@pid_file")) {
                if (rs.next()) {
                    long fromFile = Long.parseLong(Files.readString(Path.of(rs.getString(1))).trim());
                    if (Set.of("mariadbd", "mysqld").contains(comm(fromFile))) {
                        return fromFile;
                    }
                }
            } catch (SQLException | IOException | RuntimeException e) {
                // not readable from here: look by name
            }
            List<Long> servers = ProcessHandle.allProcesses().map(ProcessHandle::pid)
                    .filter(p -> Set.of("mariadbd", "mysqld").contains(comm(p))).toList();
            return servers.size() == 1 ? servers.get(0) : -1;
        }

        @Override
        String kind() {
            return "mariadb";
        }

        @Override
        String adminDatabase() {
            return "";
        }

        @Override
        String freeConnectionsQuery() {
            return "select @@max_connections - variable_value from information_schema.global_status "
                    + "where variable_name = 'THREADS_CONNECTED'";
        }

        @Override
        List<String> dropAndCreate(String database) {
            return List.of("drop database if exists " + database,
                    "create database " + database + " character set utf8mb4 collate utf8mb4_unicode_ci");
        }

        @Override
        String rmDdlResource() {
            return "/db/rm/mysql.sql";
        }

        @Override
        String analyze() {
            return "analyze table account";
        }

        @Override
        CpuSample cpu() {
            return new CpuSample(pid < 0 ? 0 : TcBench.cpuNanos(pid), 0);
        }
    }

    private static String comm(long pid) {
        try {
            return Files.readString(Path.of("/proc", String.valueOf(pid), "comm")).trim();
        } catch (IOException e) {
            return "";
        }
    }
}
