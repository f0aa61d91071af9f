package io.cohort.tm.it;

import io.cohort.testsupport.TcProcess;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.testsupport.TestPostgres;
import io.cohort.tm.GlobalTransactionRolledBackException;
import java.io.IOException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.client.HttpClientErrorException;
import org.springframework.web.client.HttpServerErrorException;
import org.springframework.web.client.RestClient;

/**
 * Two real Spring Boot services on random ports, each with its own PostgreSQL database, calling
 * each other over HTTP inside one {@code @GlobalTransactional} method, coordinated by the real TC.
 * The global outcome is read back from the TC; whether database writes are undone on rollback is
 * the RM's job and is checked only when rm-client is on the classpath.
 */
class TwoServicesIT {

    private static TcProcess tc;
    private static TcClient tcClient;
    private static ConfigurableApplicationContext callee;
    private static ConfigurableApplicationContext caller;
    private static CallerApp.Transfers transfers;
    private static RestClient direct;
    private static final ExecutorService callerThread = Executors.newSingleThreadExecutor();

    @BeforeAll
    static void start() {
        tc = TcProcess.postgres().start();
        tcClient = new TcClient(TcClientConfig.of(tc.grpcAddress(), "two-services-it"));
        callee = service(CalleeApp.class, "callee", "credit", Map.of(
                // One request thread, so consecutive requests are served by the same (reused) thread.
                "server.tomcat.threads.max", 1, "server.tomcat.threads.min-spare", 1));
        String calleeUrl = "http://127.0.0.1:" + callee.getEnvironment().getProperty("local.server.port");
        caller = service(CallerApp.class, "caller", "debit", Map.of("callee.url", calleeUrl));
        transfers = caller.getBean(CallerApp.Transfers.class);
        direct = RestClient.create(calleeUrl);
    }

    private static ConfigurableApplicationContext service(Class<?> app, String name, String table, Map<String, Object> extra) {
        TestPostgres pg = TestPostgres.get();
        String url = pg.createDatabase("tm_it_" + name);
        // The schema before the service starts: the RM checks at start that its tables are there.
        JdbcTemplate schema = new JdbcTemplate(new org.springframework.jdbc.datasource.DriverManagerDataSource(
                url, pg.user(), pg.password()));
        schema.execute("create table " + table + " (id bigserial primary key, xid varchar(128), amount int not null)");
        applyRmSchemaIfPresent(schema);
        Map<String, Object> properties = new HashMap<>(Map.of(
                "spring.application.name", name,
                "server.port", 0,
                "spring.datasource.url", url,
                "spring.datasource.username", pg.user(),
                "spring.datasource.password", pg.password(),
                "spring.datasource.hikari.maximum-pool-size", 4,
                "cohort.tc.address", tc.grpcAddress(),
                "cohort.tm.retry-backoff", "10ms"));
        properties.putAll(extra);
        return new SpringApplicationBuilder(app).properties(properties).run();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        callerThread.shutdownNow();
        if (caller != null) {
            caller.close();
        }
        if (callee != null) {
            callee.close();
        }
        if (tcClient != null) {
            tcClient.close();
        }
        tc.close();
    }

    @AfterEach
    void noXidLeftOnTheTestThread() {
        assertThat(XidContext.current()).isNull();
    }

    private static CallerApp.Outcome onCallerThread(java.util.concurrent.Callable<CallerApp.Outcome> call) throws Exception {
        try {
            return callerThread.submit(call).get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw e;
        }
    }

    private static GlobalStatus statusAtTc(String xid) {
        return GlobalStatus.fromWire(tcClient.status(xid).getStatus());
    }

    private static void assertNoXidLeft() throws Exception {
        assertThat(callerThread.submit(XidContext::current).get()).as("XID left on the caller's pooled thread").isNull();
        assertThat(direct.get().uri("/xid").retrieve().body(String.class)).as("XID seen by the callee's next request")
                .isEqualTo("null");
    }

    @Test
    void commitShouldCommitBothServicesInOneGlobalTransaction() throws Exception {
        CallerApp.Outcome outcome = onCallerThread(() -> transfers.transfer("required", 101, false, false));

        assertThat(outcome.callerXid()).startsWith(tc.grpcAddress());
        assertThat(outcome.calleeXid()).as("the callee joined the caller's global transaction").isEqualTo(outcome.callerXid());
        assertThat(statusAtTc(outcome.callerXid()).isCommitDecided()).isTrue();
        assertThat(rows(caller, "debit", 101)).isEqualTo(1);
        assertThat(rows(callee, "credit", 101)).isEqualTo(1);
        assertNoXidLeft();
    }

    @Test
    void anExceptionInTheCalleeShouldRollBackTheGlobalTransaction() throws Exception {
        Throwable thrown = catchThrowable(() -> onCallerThread(() -> transfers.transfer("required", 102, true, false)));

        assertThat(thrown).isInstanceOf(HttpServerErrorException.class);
        assertThat(statusAtTc(transfers.lastXid()).isRollbackDecided()).as(statusAtTc(transfers.lastXid()).toString()).isTrue();
        assertNoXidLeft();
    }

    @Test
    void anExceptionInTheCallerAfterTheCallShouldRollBackTheGlobalTransaction() throws Exception {
        Throwable thrown = catchThrowable(() -> onCallerThread(() -> transfers.transfer("required", 103, false, true)));

        assertThat(thrown).isInstanceOf(IllegalStateException.class).hasMessageContaining("after the callee credited");
        assertThat(statusAtTc(transfers.lastXid()).isRollbackDecided()).isTrue();
        assertNoXidLeft();
    }

    @Test
    void aTimeoutShouldRollBackAndTheCallerShouldBeToldSo() throws Exception {
        Throwable thrown = catchThrowable(() -> onCallerThread(() -> transfers.slowTransfer(104, 1600)));

        assertThat(thrown).isInstanceOf(GlobalTransactionRolledBackException.class)
                .hasMessageContaining(transfers.lastXid()).hasMessageContaining("timed out");
        assertThat(statusAtTc(transfers.lastXid()).isRollbackDecided()).isTrue();
        assertNoXidLeft();
    }

    @Test
    void aTimeoutOfAMethodThatIsAlsoTransactionalShouldEndInTheSameException() throws Exception {
        Throwable thrown = catchThrowable(() -> onCallerThread(() -> {
            transfers.slowLocalDebit(111, 1600);
            return null;
        }));

        assertThat(thrown).isInstanceOf(GlobalTransactionRolledBackException.class)
                .hasMessageContaining(transfers.lastXid()).hasMessageContaining("timed out");
        assertThat(thrown.getCause()).as("the local commit the RM refused, as Spring reports it")
                .isInstanceOf(org.springframework.dao.PessimisticLockingFailureException.class);
        assertThat(statusAtTc(transfers.lastXid()).isRollbackDecided()).isTrue();
        assertThat(rows(caller, "debit", 111)).isZero();
        assertNoXidLeft();
    }

    @Test
    void requiresNewInTheCalleeShouldCommitOnItsOwnWhenTheCallerRollsBack() throws Exception {
        catchThrowable(() -> onCallerThread(() -> transfers.transfer("requires-new", 105, false, true)));
        String calleeXid = rowXid(callee, "credit", 105);

        assertThat(calleeXid).isNotEqualTo(transfers.lastXid());
        assertThat(statusAtTc(calleeXid).isCommitDecided()).isTrue();
        assertThat(statusAtTc(transfers.lastXid()).isRollbackDecided()).isTrue();
        assertNoXidLeft();
    }

    @Test
    void supportsAndMandatoryShouldJoinTheCallersTransaction() throws Exception {
        CallerApp.Outcome supports = onCallerThread(() -> transfers.transfer("supports", 106, false, false));
        CallerApp.Outcome mandatory = onCallerThread(() -> transfers.transfer("mandatory", 107, false, false));

        assertThat(supports.calleeXid()).isEqualTo(supports.callerXid());
        assertThat(mandatory.calleeXid()).isEqualTo(mandatory.callerXid());
        assertNoXidLeft();
    }

    @Test
    void supportsShouldRunWithoutAndMandatoryShouldFailWhenCalledOutsideAGlobalTransaction() {
        assertThat(direct.post().uri("/credit/supports?amount=108").retrieve().body(String.class)).isEqualTo("none");

        Throwable thrown = catchThrowable(() -> direct.post().uri("/credit/mandatory?amount=109").retrieve().body(String.class));
        assertThat(thrown).isInstanceOf(HttpClientErrorException.Conflict.class);
        assertThat(((HttpClientErrorException) thrown).getResponseBodyAsString()).contains("MANDATORY");
        assertThat(rows(callee, "credit", 109)).isZero();
    }

    @Test
    void notSupportedShouldRunTheCalleeOutsideTheGlobalTransaction() throws Exception {
        CallerApp.Outcome outcome = onCallerThread(() -> transfers.transfer("not-supported", 110, false, false));

        assertThat(outcome.calleeXid()).isEqualTo("none");
        assertThat(statusAtTc(outcome.callerXid()).isCommitDecided()).isTrue();
        assertNoXidLeft();
    }

    @Test
    void neverShouldRefuseToRunInsideTheCallersTransactionWhichThenRollsBack() throws Exception {
        Throwable thrown = catchThrowable(() -> onCallerThread(() -> transfers.transfer("never", 111, false, false)));

        assertThat(thrown).isInstanceOf(HttpClientErrorException.Conflict.class);
        assertThat(((HttpClientErrorException) thrown).getResponseBodyAsString()).contains("NEVER").contains(transfers.lastXid());
        assertThat(rows(callee, "credit", 111)).isZero();
        assertThat(statusAtTc(transfers.lastXid()).isRollbackDecided()).isTrue();
    }

    @Test
    void anXidLeakedByABuggyHandlerShouldNotReachTheNextRequestOnTheSameThread() {
        assertThat(direct.post().uri("/leak").retrieve().body(String.class)).isEqualTo("leaked");

        assertThat(direct.get().uri("/xid").retrieve().body(String.class)).isEqualTo("null");
    }

    @Test
    void aMalformedXidHeaderShouldBeRefusedWithTheReason() {
        Throwable thrown = catchThrowable(() -> direct.get().uri("/xid").header("Cohort-Xid", "nonsense")
                .retrieve().body(String.class));

        assertThat(thrown).isInstanceOf(HttpClientErrorException.BadRequest.class);
        assertThat(((HttpClientErrorException) thrown).getResponseBodyAsString()).contains("Cohort-Xid").contains("nonsense");
    }

    // ---- Needs the RM (rm-client): without its DataSource proxy, local writes are not branches and cannot be undone.

    @Test
    @EnabledIf("rmPresent")
    void rollbackAfterTheCalleeCommittedShouldUndoTheWritesOfBothServices() throws Exception {
        catchThrowable(() -> onCallerThread(() -> transfers.transfer("required", 201, false, true)));
        awaitFinal(transfers.lastXid());

        assertThat(rows(caller, "debit", 201)).isZero();
        assertThat(rows(callee, "credit", 201)).isZero();
    }

    @Test
    @EnabledIf("rmPresent")
    void aFailingCalleeShouldLeaveNoWriteInEitherDatabase() throws Exception {
        catchThrowable(() -> onCallerThread(() -> transfers.transfer("required", 202, true, false)));
        awaitFinal(transfers.lastXid());

        assertThat(rows(caller, "debit", 202)).isZero();
        assertThat(rows(callee, "credit", 202)).isZero();
    }

    @Test
    @EnabledIf("rmPresent")
    void aTimedOutTransactionShouldLeaveNoWriteInEitherDatabase() throws Exception {
        catchThrowable(() -> onCallerThread(() -> transfers.slowTransfer(203, 1600)));
        awaitFinal(transfers.lastXid());

        assertThat(rows(caller, "debit", 203)).isZero();
        assertThat(rows(callee, "credit", 203)).isZero();
    }

    /** Whether an RM auto-configuration (package io.cohort.rm) is on the test classpath. */
    static boolean rmPresent() throws IOException {
        Enumeration<URL> imports = TwoServicesIT.class.getClassLoader()
                .getResources("META-INF/spring/org.springframework.boot.autoconfigure.AutoConfiguration.imports");
        while (imports.hasMoreElements()) {
            try (var in = imports.nextElement().openStream()) {
                if (new String(in.readAllBytes(), StandardCharsets.UTF_8).contains("io.cohort.rm.")) {
                    return true;
                }
            }
        }
        return false;
    }

    /** The RM's undo_log table, from the one source of every DDL, when the RM is there to use it. */
    private static void applyRmSchemaIfPresent(JdbcTemplate jdbc) {
        Path ddl = Path.of("../sql/rm/postgresql.sql");
        try {
            if (rmPresent() && Files.isRegularFile(ddl)) {
                jdbc.execute(Files.readString(ddl));
            }
        } catch (IOException e) {
            throw new IllegalStateException("Cannot apply " + ddl, e);
        }
    }

    private static void awaitFinal(String xid) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!statusAtTc(xid).isFinal() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(statusAtTc(xid).isFinal()).as("global transaction " + xid + " finished").isTrue();
    }

    private static int rows(ConfigurableApplicationContext service, String table, int amount) {
        return service.getBean(JdbcTemplate.class).queryForObject(
                "select count(*) from " + table + " where amount = ?", Integer.class, amount);
    }

    private static String rowXid(ConfigurableApplicationContext service, String table, int amount) {
        return service.getBean(JdbcTemplate.class).queryForObject(
                "select xid from " + table + " where amount = ?", String.class, amount);
    }
}
