package io.cohort.tm.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.cohort.client.RmConnection;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.client.XidContext;
import io.cohort.protocol.Xid;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import io.cohort.tm.GlobalTransactionBeginException;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TmConfig;
import io.cohort.tm.template.TransactionDefinition;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A TC at its cap of unfinished transactions refuses a new one: with Begin, the TM says so plainly and
 * runs nothing; with a TM-made XID (no Begin call), the first registration of a branch is refused, so
 * the method's first write fails with the same reason and nothing commits.
 */
class BeginRefusedIT {

    @Test
    void aBeginPastTheApplicationsCapFailsAtOnceWithTheReasonAndTheMethodDoesNotRun(@TempDir Path dir) {
        try (TcProcess tc = TcProcess.embedded(dir.resolve("data"),
                "--cohort.tc.limits.max-active-per-application=1").start();
             // A first call to a TC that has just started can take seconds on a loaded machine.
             TcClient client = new TcClient(new TcClientConfig(tc.grpcAddress(), "capped-app", "",
                     Duration.ofSeconds(60), 1, Duration.ofMillis(10)))) {
            client.begin("holds the only place", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
            GlobalTransactionTemplate template = new GlobalTransactionTemplate(client,
                    TmConfig.defaults().withRetryBackoff(Duration.ofMillis(10)).withBeginless(false));
            AtomicBoolean ran = new AtomicBoolean();

            Throwable thrown = catchThrowable(() -> template.execute(TransactionDefinition.named("second"), () -> {
                ran.set(true);
                return null;
            }));

            assertThat(thrown).isInstanceOf(GlobalTransactionBeginException.class)
                    .hasMessageContaining("refused")
                    .hasMessageContaining("capped-app")
                    .hasMessageContaining("cohort.tc.limits.max-active-per-application")
                    .hasMessageContaining("the method did not run");
            assertThat(((TcException) thrown.getCause()).errorCode()).isEqualTo(ErrorCode.TOO_MANY_TRANSACTIONS);
            assertThat(ran).isFalse();
        }
    }

    @Test
    void withATmMadeXidTheFirstRegistrationPastTheCapIsRefusedWithTheReasonAndNothingCommits(@TempDir Path dir) {
        try (TcProcess tc = TcProcess.embedded(dir.resolve("data"),
                "--cohort.tc.limits.max-active-per-application=1").start();
             TcClient client = new TcClient(new TcClientConfig(tc.grpcAddress(), "capped-app", "",
                     Duration.ofSeconds(60), 1, Duration.ofMillis(10)));
             // An RM serving the resource (no command reaches it: its registration is refused).
             RmConnection rm = new RmConnection(TcClientConfig.of(tc.grpcAddress(), "capped-rm"), "rm",
                     List.of("bench://a"), commands -> List.of(), 1)) {
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (rm.connectedReplicas() == 0) {
                assertThat(System.nanoTime()).as("the RM's stream welcomed within 60 s").isLessThan(deadline);
                LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
            }
            // This Begin's answer tells the client the TC makes transactions from TM-made XIDs; it holds the only place.
            client.begin("holds the only place", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
            GlobalTransactionTemplate template = new GlobalTransactionTemplate(client,
                    TmConfig.defaults().withRetryBackoff(Duration.ofMillis(10)));
            String[] xid = new String[1];

            Throwable thrown = catchThrowable(() -> template.execute(TransactionDefinition.named("second"), () -> {
                xid[0] = XidContext.current();
                // What an RM does at its first local commit in the method.
                return client.registerBranch(xid[0], "bench://a", List.of("account:1"), null, "rm");
            }));

            assertThat(xid[0]).as("the method ran under a TM-made XID").isNotNull();
            assertThat(Xid.parse(xid[0]).tmMade()).isTrue();
            assertThat(thrown).isInstanceOf(TcException.class)
                    .hasMessageContaining("capped-app")
                    .hasMessageContaining("cohort.tc.limits.max-active-per-application");
            assertThat(((TcException) thrown).errorCode()).isEqualTo(ErrorCode.TOO_MANY_TRANSACTIONS);
            // Nothing committed: the TC recorded the rollback the TM asked for, or never created the transaction.
            Throwable unknown = catchThrowable(() -> assertThat(client.status(xid[0]).getStatus())
                    .isEqualTo(GlobalStatusCode.GLOBAL_ROLLBACKED));
            if (unknown != null) {
                assertThat(unknown).isInstanceOf(TcException.class);
                assertThat(((TcException) unknown).errorCode()).isEqualTo(ErrorCode.UNKNOWN_XID);
            }
        }
    }
}
