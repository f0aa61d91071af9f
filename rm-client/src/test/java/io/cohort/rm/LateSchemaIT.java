package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import io.cohort.testsupport.TestPostgres;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/**
 * An undo log the application creates after the RM wrapped its DataSource, as Spring Boot's
 * {@code spring.sql.init} or Flyway do: the RM reads its three-phase state once the table is there
 * (at the next termination check), instead of checking every COMMIT against the undo log for the
 * life of the process (the demo's banks did, and warned about it at each start).
 */
class LateSchemaIT {

    @Test
    void anUndoLogCreatedAfterTheWrappingIsReadAtTheNextTerminationCheck() throws Exception {
        TestPostgres pg = TestPostgres.get();
        DataSource raw = pg.dataSource(pg.createDatabase("late_schema"), 2);
        try (TcClient tc = new TcClient(TcClientConfig.of("127.0.0.1:1", "late-schema"));
             ResourceManager rm = ResourceManager.builder(BranchCoordinator.of(tc)).build()) {
            rm.wrap(raw, "late-schema");
            BranchCommand commit = BranchCommand.newBuilder().setRequestId(1).setXid("127.0.0.1:8091:1")
                    .setBranchId(1).setResourceId("late-schema").setAction(BranchAction.COMMIT).build();
            assertThat(RmInternals.answeredAtOnce(rm, commit)).as("a COMMIT while the undo log is unreadable")
                    .isFalse();

            try (InputStream script = ResourceManager.class.getResourceAsStream("/db/rm/postgresql.sql");
                 Connection c = raw.getConnection(); Statement s = c.createStatement()) {
                s.execute(new String(script.readAllBytes(), StandardCharsets.UTF_8));
            }
            rm.checkTermination();

            assertThat(RmInternals.answeredAtOnce(rm, commit)).as("a COMMIT once the undo log was read").isTrue();
        } finally {
            ((AutoCloseable) raw).close();
        }
    }
}
