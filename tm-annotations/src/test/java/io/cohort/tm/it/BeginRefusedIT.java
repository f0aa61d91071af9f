package io.cohort.tm.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import io.cohort.tm.GlobalTransactionBeginException;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TmConfig;
import io.cohort.tm.template.TransactionDefinition;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A TC at its cap of unfinished transactions refuses a begin; the TM says so plainly and runs nothing. */
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
                    TmConfig.defaults().withRetryBackoff(Duration.ofMillis(10)));
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
}
