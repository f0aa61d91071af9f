package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.client.TcStoreUnavailableException;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * A real TC on a real PostgreSQL whose store cannot write: its database role loses the right to
 * insert and update the transaction table (a grant gone wrong, as after a restore or a failover).
 * The TC answers STORE_UNAVAILABLE; the client must say so — the TC is there, its store cannot
 * write, nothing was changed, try again — not "no answer from the TC", and such answers must not
 * open the client's circuit breaker against a TC that answers.
 */
class StoreUnavailableIT {

    @Test
    void aStoreThatCannotWriteIsReportedAsSuchChangesNothingAndDoesNotOpenTheBreaker() throws Exception {
        TestPostgres pg = TestPostgres.get();
        String url = pg.createDatabase("tcstore");
        String role = "cohort_tc_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        String database = url.substring(url.lastIndexOf('/') + 1);
        String admin = url.substring(0, url.lastIndexOf('/') + 1) + "postgres";
        sql(pg, admin, "CREATE ROLE " + role + " LOGIN PASSWORD 'tc'",
                "ALTER DATABASE " + database + " OWNER TO " + role);
        try (TcProcess tc = TcProcess.postgresOn(url, "--cohort.tc.default-timeout=10m",
                "--cohort.tc.store.postgres.username=" + role, "--cohort.tc.store.postgres.password=tc").start();
             TcClient client = new TcClient(new TcClientConfig(tc.grpcAddress(), "store-it", "", Duration.ofSeconds(30),
                     3, Duration.ofMillis(10)))) {
            String before = client.begin("before", Duration.ZERO, TransactionProtocol.TWO_PHASE);

            sql(pg, url, "REVOKE INSERT, UPDATE ON cohort_global_tx FROM " + role);
            for (int i = 0; i < 30; i++) { // more than the breaker's minimum number of calls, all failing
                TcException refused = catchThrowableOfType(() -> client.begin("refused", Duration.ZERO,
                        TransactionProtocol.TWO_PHASE), TcException.class);
                assertThat(refused).as("begin %d while the store cannot write", i).isInstanceOf(TcStoreUnavailableException.class);
                assertThat(refused.errorCode()).isEqualTo(ErrorCode.STORE_UNAVAILABLE);
                assertThat(refused.isRetriable()).isTrue();
                assertThat(refused.getMessage()).contains("its store cannot write").contains("nothing was changed")
                        .contains("try again").contains("permission denied").doesNotContain("No answer");
            }
            TcException commit = catchThrowableOfType(() -> client.commit(before), TcException.class);
            assertThat(commit).isInstanceOf(TcStoreUnavailableException.class);
            assertThat(commit.getMessage()).contains("commit of " + before);
            // The TC still answers reads, and the breaker let this call through: nothing changed.
            assertThat(client.status(before).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);

            sql(pg, url, "GRANT INSERT, UPDATE ON cohort_global_tx TO " + role);
            assertThat(GlobalStatus.fromWire(client.commit(before).getStatus()).isCommitDecided()).isTrue();
            String after = client.begin("after", Duration.ZERO, TransactionProtocol.TWO_PHASE);
            assertThat(client.status(after).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
        } finally {
            sql(pg, admin, "DROP DATABASE IF EXISTS " + database + " WITH (FORCE)",
                    "DROP ROLE IF EXISTS " + role);
        }
    }

    private static void sql(TestPostgres pg, String url, String... statements) throws SQLException {
        try (Connection c = DriverManager.getConnection(url, pg.user(), pg.password()); Statement s = c.createStatement()) {
            for (String statement : statements) {
                s.execute(statement);
            }
        }
    }
}
