package io.cohort.sample.bank.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.cohort.sample.bank.demo.Demo;
import io.cohort.testsupport.TestMariaDb;
import io.cohort.testsupport.TestPostgres;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The one-command demo, as a user runs it, on each database server it supports: the TC and both banks
 * as child processes, the whole scenario (a commit, a failure undone in both banks, a refusal, a burst
 * with random failures), its own invariants — and then, from outside, the banks' databases: the
 * money is all there, no balance is negative, no undo log is left.
 */
class DemoIT {

    private static final int ACCOUNTS = 10;
    private static final long SEED = 100_000; // bank.seed-balance's default

    /** A server the demo runs on, found as the other tests of that database find theirs. */
    enum Server {
        POSTGRESQL, MARIADB;

        /** A fresh database on the server: its URL names the server, its name is unique for the banks' prefix. */
        String freshDatabase() {
            return this == POSTGRESQL ? TestPostgres.get().createDatabase("demo") : TestMariaDb.get().createDatabase("demo");
        }

        String user() {
            return this == POSTGRESQL ? TestPostgres.get().user() : TestMariaDb.get().user();
        }

        String password() {
            return this == POSTGRESQL ? TestPostgres.get().password() : TestMariaDb.get().password();
        }
    }

    @ParameterizedTest
    @EnumSource(Server.class)
    void theScenarioKeepsEveryInvariantAndLeavesNothingBehind(Server server) throws Exception {
        if (server == Server.MARIADB) {
            assumeTrue(TestMariaDb.available(), TestMariaDb.MISSING);
        }
        String url = server.freshDatabase();
        String prefix = url.substring(url.lastIndexOf('/') + 1);
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(printed, true, StandardCharsets.UTF_8);

        int status;
        try {
            status = Demo.run(new String[] {
                "--demo.db-url=" + url, "--demo.db-user=" + server.user(), "--demo.db-password=" + server.password(),
                "--demo.database-prefix=" + prefix, "--demo.tc-grpc-port=0", "--demo.tc-http-port=0",
                "--demo.port-a=0", "--demo.port-b=0", "--demo.accounts=" + ACCOUNTS, "--demo.burst=60",
                "--demo.both-directions=true", "--demo.exit-after-scenario=true",
                "--demo.start-timeout-seconds=600", // two Spring JVMs at once on a machine other builds load
                "--demo.work-dir=" + Files.createTempDirectory("demo-it-" + server.name().toLowerCase(Locale.ROOT)),
                "--demo.tc-jar=" + System.getProperty("tc.jar")}, out);
        } finally {
            System.out.print(printed.toString(StandardCharsets.UTF_8)); // the scenario's report, in the test log
        }

        String output = printed.toString(StandardCharsets.UTF_8);
        assertThat(output).contains("   ok    total money unchanged", "   ok    no negative balance",
                "   ok    every global transaction ended, no global lock held (TC API)",
                "   ok    no undo log left in either bank", "All invariants hold.").doesNotContain("FAIL");
        assertThat(status).isZero();
        // From outside the demo, after it stopped its processes: what the databases hold.
        String serverUrl = url.substring(0, url.lastIndexOf('/') + 1);
        long total = 0;
        for (String bank : new String[] {"a", "b"}) {
            try (Connection c = DriverManager.getConnection(serverUrl + prefix + "_" + bank, server.user(),
                    server.password())) {
                total += single(c, "select sum(balance) from account");
                assertThat(single(c, "select count(*) from account where balance < 0")).as("negative balances").isZero();
                assertThat(single(c, "select count(*) from undo_log where log_status = 0")).as("undo logs in bank " + bank)
                        .isZero();
            }
        }
        assertThat(total).as("money in both banks").isEqualTo(2 * ACCOUNTS * SEED);
    }

    private static long single(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
