package io.cohort.tm.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.GlobalLockConflictException;
import io.cohort.rm.RmConfig;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestPostgres;
import io.cohort.tm.GlobalTransactionRolledBackException;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.RollbackRules;
import io.cohort.tm.template.TmConfig;
import io.cohort.tm.template.TransactionDefinition;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A global transaction in which one of its branches failed must not commit, whatever the TM's
 * rollback rules make of the exception. Plain JDBC without Spring, as a user of the template writes
 * it: a transfer body that catches nothing debits bank A, then its credit to bank B fails. The real
 * TC (a process), two PostgreSQL databases behind the real RM. Afterwards nothing is applied in
 * either database, and the exception the TM throws says why.
 */
class RollbackOnlyIT {

    /** Rules under which the escaping exception would commit: only the TC's rollback-only can stop it. */
    private static final TransactionDefinition COMMIT_ON_SQL_EXCEPTION = TransactionDefinition.named("transfer")
            .withRollbackRules(RollbackRules.of(List.of(), List.of(SQLException.class)));

    private static TcProcess tc;
    private static TcClient client;
    private static GlobalTransactionTemplate template;
    private static HikariDataSource rawA;
    private static HikariDataSource rawB;
    private static ResourceManager rm;
    private static ResourceManager silentRm;
    private static DataSource bankA;
    private static DataSource bankB;
    /** Bank B through an RM that never opened its command stream: the TC refuses its registrations. */
    private static DataSource bankBUnannounced;
    private final List<String> holders = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        tc = TcProcess.embedded(Files.createTempDirectory("cohort-rollback-only").resolve("data"),
                "--cohort.tc.store.embedded.fsync=false").start();
        TcClientConfig tcConfig = new TcClientConfig(tc.grpcAddress(), "rollback-only-it", "", Duration.ofSeconds(5), 3,
                Duration.ofMillis(50));
        client = new TcClient(tcConfig);
        template = new GlobalTransactionTemplate(client, TmConfig.defaults().withRetryBackoff(Duration.ofMillis(10)));
        rawA = database("tm_rollback_only_a");
        rawB = database("tm_rollback_only_b");
        RmConfig rmConfig = RmConfig.defaults().withLockRetry(Duration.ofMillis(5), 3);
        rm = ResourceManager.builder(BranchCoordinator.of(client)).config(rmConfig).build();
        bankA = rm.wrap(rawA, "bank-a");
        bankB = rm.wrap(rawB, "bank-b");
        rm.connect(tcConfig, 2);
        // A cold JVM's first gRPC connection on a loaded machine: only a hang should fail this wait.
        assertThat(rm.awaitConnected(Duration.ofSeconds(60))).as("RM stream welcomed by the TC").isTrue();
        silentRm = ResourceManager.builder(BranchCoordinator.of(client)).config(rmConfig).build();
        bankBUnannounced = silentRm.wrap(rawB, "bank-b-unannounced");
    }

    private static HikariDataSource database(String prefix) throws Exception {
        HikariDataSource ds = TestPostgres.get().dataSource(TestPostgres.get().createDatabase(prefix), 4);
        try (InputStream ddl = RollbackOnlyIT.class.getResourceAsStream("/db/rm/postgresql.sql")) {
            exec(ds, new String(ddl.readAllBytes(), StandardCharsets.UTF_8));
        }
        exec(ds, "CREATE TABLE account (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))");
        return ds;
    }

    @AfterAll
    static void stop() {
        // What start() made before it failed, if it did: its failure is the one to see.
        for (AutoCloseable c : new AutoCloseable[] {silentRm, rm, client, tc, rawA, rawB}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    /** Rolls back the lock holders a test began and waits until their locks are free for the next test. */
    @AfterEach
    void releaseHolders() throws InterruptedException {
        for (String holder : holders) {
            client.rollback(holder);
            assertThat(awaitEnded(holder)).as("holder " + holder).isEqualTo(GlobalStatus.ROLLBACKED);
        }
        holders.clear();
    }

    @BeforeEach
    void seed() throws SQLException {
        for (DataSource ds : List.of(rawA, rawB)) {
            exec(ds, "TRUNCATE account, undo_log; INSERT INTO account VALUES (1, 100)");
        }
    }

    @Test
    void aLockConflictThatEscapesTheBodyRollsBackEveryBranchEvenUnderARuleThatCommitsIt() throws Exception {
        String holder = holdAccountInBankB();
        String[] xid = new String[1];

        Throwable thrown = catchThrowable(() -> template.execute(COMMIT_ON_SQL_EXCEPTION, () -> {
            xid[0] = XidContext.current();
            transfer(bankA, bankB, 30);
            return "done";
        }));

        assertThat(thrown).isInstanceOf(GlobalTransactionRolledBackException.class)
                .hasMessageContaining(xid[0]).hasMessageContaining("rollback-only")
                .hasMessageContaining("bank-b").hasMessageContaining("could not be registered")
                .hasMessageContaining(holder);
        assertThat(thrown.getSuppressed()).singleElement().isInstanceOf(GlobalLockConflictException.class);
        assertNothingApplied(xid[0]);
    }

    @Test
    void withTheDefaultRulesAnEscapingLockConflictRollsBackAndIsRethrownAsItIs() throws Exception {
        String holder = holdAccountInBankB();
        String[] xid = new String[1];

        Throwable thrown = catchThrowable(() -> template.execute(TransactionDefinition.named("transfer"), () -> {
            xid[0] = XidContext.current();
            transfer(bankA, bankB, 30);
            return "done";
        }));

        assertThat(thrown).isInstanceOf(GlobalLockConflictException.class).hasMessageContaining(holder);
        assertNothingApplied(xid[0]);
    }

    @Test
    void aBodyThatSwallowsTheLockConflictAndReturnsGetsARollbackNotACommit() throws Exception {
        String holder = holdAccountInBankB();
        String[] xid = new String[1];

        Throwable thrown = catchThrowable(() -> template.execute(TransactionDefinition.named("transfer"), () -> {
            xid[0] = XidContext.current();
            try {
                transfer(bankA, bankB, 30);
            } catch (GlobalLockConflictException swallowed) {
                return "pretend it worked";
            }
            return "done";
        }));

        assertThat(thrown).isInstanceOf(GlobalTransactionRolledBackException.class)
                .hasMessageContaining("rollback-only").hasMessageContaining(holder);
        assertNothingApplied(xid[0]);
    }

    @Test
    void aRegistrationTheTcRefusesRollsBackEveryBranch() throws Exception {
        String[] xid = new String[1];

        Throwable thrown = catchThrowable(() -> template.execute(COMMIT_ON_SQL_EXCEPTION, () -> {
            xid[0] = XidContext.current();
            transfer(bankA, bankBUnannounced, 30);
            return "done";
        }));

        assertThat(thrown).isInstanceOf(GlobalTransactionRolledBackException.class)
                .hasMessageContaining("rollback-only").hasMessageContaining("bank-b-unannounced")
                .hasMessageContaining("could not be registered").hasMessageContaining("No RM has announced");
        assertNothingApplied(xid[0]);
    }

    @Test
    void aStatementTheRmStartedThatFailsRollsBackEveryBranch() throws Exception {
        String[] xid = new String[1];

        Throwable thrown = catchThrowable(() -> template.execute(COMMIT_ON_SQL_EXCEPTION, () -> {
            xid[0] = XidContext.current();
            transfer(bankA, bankB, -500); // the debit succeeds (balance 600), the credit breaks bank B's CHECK
            return "done";
        }));

        assertThat(thrown).isInstanceOf(GlobalTransactionRolledBackException.class)
                .hasMessageContaining("rollback-only").hasMessageContaining("bank-b")
                .hasMessageContaining("a statement failed (SQLState 23514)");
        assertNothingApplied(xid[0]);
    }

    // ---- helpers ----

    private static void transfer(DataSource from, DataSource to, long amount) throws SQLException {
        update(from, "UPDATE account SET balance = balance - " + amount + " WHERE id = 1");
        update(to, "UPDATE account SET balance = balance + " + amount + " WHERE id = 1");
    }

    private static void update(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate(sql);
            c.commit();
        }
    }

    /** A global transaction, left in BEGIN, that holds the global lock on bank B's account 1. */
    private String holdAccountInBankB() throws SQLException {
        String holder = client.begin("holder", Duration.ofSeconds(60), null);
        holders.add(holder);
        String previous = XidContext.bind(holder);
        try {
            update(bankB, "UPDATE account SET balance = balance WHERE id = 1");
        } finally {
            XidContext.restore(previous);
        }
        return holder;
    }

    /** The TC rolled the transaction back, and neither bank shows any of it. */
    private static void assertNothingApplied(String xid) throws Exception {
        assertThat(awaitEnded(xid)).as("status of " + xid).isEqualTo(GlobalStatus.ROLLBACKED);
        for (DataSource ds : List.of(rawA, rawB)) {
            assertThat(query(ds, "SELECT balance FROM account WHERE id = 1")).isEqualTo(100);
            assertThat(query(ds, "SELECT count(*) FROM undo_log WHERE xid = '" + xid + "' AND log_status = 0"))
                    .isZero();
        }
    }

    private static GlobalStatus awaitEnded(String xid) throws InterruptedException {
        return TcAnswering.awaitEnded(client, xid, Duration.ofSeconds(20));
    }

    private static long query(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static void exec(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }
}
