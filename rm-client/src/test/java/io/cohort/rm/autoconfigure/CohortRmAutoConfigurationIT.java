package io.cohort.rm.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.cohort.client.TcClient;
import io.cohort.client.XidContext;
import io.cohort.client.autoconfigure.CohortTcAutoConfiguration;
import io.cohort.protocol.GlobalStatus;
import io.cohort.rm.jdbc.DataSourceProxy;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestMariaDb;
import io.cohort.testsupport.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** The auto-configured RM in a Spring context, against the real TC and PostgreSQL. */
class CohortRmAutoConfigurationIT {

    /**
     * How long start-up waits for the TC's welcome (cohort.rm.connect-timeout, 10 s by default), and the
     * test for the RM's goodbye: a cold JVM's first gRPC connection on a loaded 2-core machine can take
     * longer than the default, and the tests look at the TC's list of RMs right after start.
     */
    private static final Duration CONNECT_WAIT = Duration.ofSeconds(60);

    private static TcProcess tc;

    @BeforeAll
    static void startTc() throws Exception {
        tc = TcProcess.embedded(Files.createTempDirectory("cohort-rm-boot").resolve("data"),
                "--cohort.tc.store.embedded.fsync=false").start();
    }

    @AfterAll
    static void stopTc() {
        tc.close();
    }

    @Test
    void aBootServiceShouldConnectItsRmAndHaveItsWritesUndoneByAGlobalRollback() throws Exception {
        TestPostgres pg = TestPostgres.get();
        String url = pg.createDatabase("rm_boot");
        applyRmSchema(url);
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, CohortTcAutoConfiguration.class,
                        CohortRmAutoConfiguration.class))
                .withPropertyValues("spring.application.name=boot-rm", "spring.datasource.url=" + url,
                        "spring.datasource.username=" + pg.user(), "spring.datasource.password=" + pg.password(),
                        "cohort.tc.address=" + tc.grpcAddress(), "cohort.rm.connect-timeout=" + CONNECT_WAIT.toSeconds() + "s")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    DataSource ds = context.getBean(DataSource.class);
                    assertThat(ds).isInstanceOf(DataSourceProxy.class);
                    String resourceId = context.getBean(ResourceManager.class).resourceIds().get(0);
                    assertThat(get("/api/v1/rms")).as("the RM announced its resource at start").contains(resourceId);
                    assertAGlobalRollbackUndoesAWrite(context.getBean(TcClient.class), ds);
                });
        long deadline = System.nanoTime() + CONNECT_WAIT.toNanos();
        while (get("/api/v1/rms").contains("rm_boot") && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(get("/api/v1/rms")).as("the RM disconnected at shutdown").doesNotContain("rm_boot");
    }

    @Test
    void aDatabaseWithoutTheRmTablesShouldFailTheStartNamingTheTableAndTheSqlFile() throws Exception {
        TestPostgres pg = TestPostgres.get();
        String url = pg.createDatabase("rm_boot_no_tables");
        runner(url).run(context -> assertThat(context).hasFailed().getFailure()
                .hasMessageContaining("has no table undo_log").hasMessageContaining("sql/rm/postgresql.sql")
                .hasMessageContaining("set cohort.rm.schema.initialize=true")
                .hasMessageContaining("dataSource"));

        try (Connection c = java.sql.DriverManager.getConnection(url, pg.user(), pg.password()); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE undo_log (id bigint PRIMARY KEY)");
        }
        runner(url).run(context -> assertThat(context).hasFailed().getFailure()
                .hasMessageContaining("has no table cohort_branch_decision"));
    }

    /**
     * On MySQL/MariaDB the RM's batched phase-2 statements name the undo log's unique key (FORCE INDEX):
     * an undo log whose key has another name fails the start, naming the key, instead of every batch
     * failing at run time.
     */
    @Test
    void aMariaDbUndoLogWhoseBranchKeyHasAnotherNameShouldFailTheStartNamingTheKey() throws Exception {
        assumeTrue(TestMariaDb.available(), TestMariaDb.MISSING);
        TestMariaDb maria = TestMariaDb.get();
        String url = maria.createDatabase("rm_boot_key_name");
        ApplicationContextRunner runner = runner(url).withPropertyValues("spring.datasource.username=" + maria.user(),
                "spring.datasource.password=" + maria.password());
        try (Connection c = java.sql.DriverManager.getConnection(url + "?allowMultiQueries=true", maria.user(), maria.password());
             Statement s = c.createStatement()) {
            s.execute(new String(CohortRmAutoConfigurationIT.class.getResourceAsStream("/db/rm/mysql.sql").readAllBytes()));
        }
        runner.run(context -> assertThat(context).hasNotFailed());
        try (Connection c = java.sql.DriverManager.getConnection(url, maria.user(), maria.password());
             Statement s = c.createStatement()) {
            s.execute("ALTER TABLE undo_log RENAME INDEX ux_undo_log_branch TO ux_undo_log_xid_branch");
        }
        runner.run(context -> assertThat(context).hasFailed().getFailure()
                .hasMessageContaining("has no unique key ux_undo_log_branch (xid, branch_id) on table undo_log")
                .hasMessageContaining("sql/rm/mysql.sql"));
    }

    @Test
    void withSchemaInitializeTheStartShouldCreateTheRmTablesOnceAndAGlobalTransactionShouldWork() throws Exception {
        String url = TestPostgres.get().createDatabase("rm_boot_schema_init");
        for (int start = 1; start <= 2; start++) {
            runner(url).withPropertyValues("cohort.rm.schema.initialize=true").run(context -> {
                assertThat(context).hasNotFailed();
                DataSource ds = context.getBean(DataSource.class);
                exec(ds, "DROP TABLE IF EXISTS t");
                assertAGlobalRollbackUndoesAWrite(context.getBean(TcClient.class), ds);
            });
        }
    }

    /** The script upgrades the previous release's undo_log in place: its rows kept, its surrogate id and by-age index gone. */
    @Test
    void schemaInitializeShouldUpgradeAnOlderUndoLogInPlace() throws Exception {
        String url = TestPostgres.get().createDatabase("rm_boot_schema_upgrade");
        TestPostgres pg = TestPostgres.get();
        try (Connection c = java.sql.DriverManager.getConnection(url, pg.user(), pg.password()); Statement s = c.createStatement()) {
            s.execute("""
                    CREATE TABLE undo_log (
                        id            BIGSERIAL    PRIMARY KEY,
                        xid           VARCHAR(128) NOT NULL,
                        branch_id     BIGINT       NOT NULL,
                        rollback_info BYTEA        NOT NULL,
                        log_status    SMALLINT     NOT NULL,
                        created       TIMESTAMPTZ  NOT NULL DEFAULT now(),
                        updated       TIMESTAMPTZ  NOT NULL DEFAULT now(),
                        CONSTRAINT ux_undo_log_branch UNIQUE (xid, branch_id));
                    CREATE INDEX ix_undo_log_created ON undo_log (created);
                    CREATE INDEX ix_undo_log_three_phase ON undo_log (updated) WHERE log_status >= 2;
                    INSERT INTO undo_log (xid, branch_id, rollback_info, log_status) VALUES ('old:1', 7, '', 1);
                    """);
        }
        runner(url).withPropertyValues("cohort.rm.schema.initialize=true").run(context -> {
            assertThat(context).hasNotFailed();
            DataSource ds = context.getBean(DataSource.class);
            assertAGlobalRollbackUndoesAWrite(context.getBean(TcClient.class), ds);
        });
        try (Connection c = java.sql.DriverManager.getConnection(url, pg.user(), pg.password()); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("""
                     SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = 'undo_log'::regclass AND attname = 'id'
                               AND NOT attisdropped),
                            (SELECT string_agg(indexrelid::regclass::text, ',' ORDER BY indexrelid::regclass::text)
                               FROM pg_index WHERE indrelid = 'undo_log'::regclass),
                            (SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'undo_log'::regclass
                               AND indisreplident),
                            (SELECT count(*) FROM undo_log WHERE xid = 'old:1' AND branch_id = 7 AND log_status = 1)""")) {
            rs.next();
            assertThat(rs.getLong(1)).as("id column left").isZero();
            assertThat(rs.getString(2)).isEqualTo("ix_undo_log_markers,ix_undo_log_three_phase,ux_undo_log_branch");
            assertThat(rs.getString(3)).as("replica identity").isEqualTo("ux_undo_log_branch");
            assertThat(rs.getLong(4)).as("the marker kept").isEqualTo(1);
        }
    }

    @Test
    void schemaInitializeWithCustomTableNamesShouldFailTheStartSayingWhatToDo() throws Exception {
        String url = TestPostgres.get().createDatabase("rm_boot_schema_custom");
        runner(url).withPropertyValues("cohort.rm.schema.initialize=true", "cohort.rm.undo.table=rm_undo").run(context ->
                assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("creates only the default tables undo_log and cohort_branch_decision")
                        .hasMessageContaining("rm_undo").hasMessageContaining("set cohort.rm.schema.initialize=false"));
    }

    private static void assertAGlobalRollbackUndoesAWrite(TcClient tm, DataSource ds) throws Exception {
        exec(ds, "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 10)");

        String xid = tm.begin("boot", Duration.ofSeconds(30), null);
        XidContext.runWith(xid, () -> {
            exec(ds, "UPDATE t SET v = 11 WHERE id = 1");
            return null;
        });
        assertThat(value(ds)).isEqualTo(11);
        tm.rollback(xid);
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!GlobalStatus.fromWire(tm.status(xid).getStatus()).isEnded() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(GlobalStatus.fromWire(tm.status(xid).getStatus())).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(value(ds)).isEqualTo(10);
    }

    private static ApplicationContextRunner runner(String url) {
        TestPostgres pg = TestPostgres.get();
        return new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class, CohortTcAutoConfiguration.class,
                        CohortRmAutoConfiguration.class))
                .withPropertyValues("spring.application.name=boot-rm", "spring.datasource.url=" + url,
                        "spring.datasource.username=" + pg.user(), "spring.datasource.password=" + pg.password(),
                        "cohort.tc.address=" + tc.grpcAddress(), "cohort.rm.connect-timeout=" + CONNECT_WAIT.toSeconds() + "s");
    }

    private static void applyRmSchema(String url) throws Exception {
        TestPostgres pg = TestPostgres.get();
        try (Connection c = java.sql.DriverManager.getConnection(url, pg.user(), pg.password()); Statement s = c.createStatement()) {
            s.execute(new String(CohortRmAutoConfigurationIT.class.getResourceAsStream("/db/rm/postgresql.sql").readAllBytes()));
        }
    }

    private static Object exec(DataSource ds, String sql) {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
            return null;
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int value(DataSource ds) throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT v FROM t WHERE id = 1")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static String get(String path) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + tc.httpPort() + path)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
