package io.cohort.tm.it;

import io.cohort.testsupport.TcProcess;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.Xid;
import io.cohort.tm.GlobalTransactionOutcomeUnknownException;
import io.cohort.tm.GlobalTransactionRolledBackException;
import io.cohort.tm.Propagation;
import io.cohort.tm.propagation.XidPropagation;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TmConfig;
import io.cohort.tm.template.TransactionDefinition;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The template against the real TC, as a process. */
class GlobalTransactionTemplateIT {

    private static TcProcess tc;
    private static TcClient client;
    private static GlobalTransactionTemplate template;

    @BeforeAll
    static void start() {
        tc = TcProcess.postgres().start();
        client = new TcClient(TcClientConfig.of(tc.grpcAddress(), "template-it"));
        template = new GlobalTransactionTemplate(client, TmConfig.defaults().withRetryBackoff(Duration.ofMillis(10)));
    }

    @AfterAll
    static void stop() throws InterruptedException {
        client.close();
        tc.close();
    }

    private static GlobalStatus statusAtTc(String xid) {
        return GlobalStatus.fromWire(client.status(xid).getStatus());
    }

    @Test
    void aReturningBodyShouldEndCommittedAtTheTc() {
        String xid = template.execute(TransactionDefinition.named("it-commit"), XidContext::current);

        assertThat(xid).startsWith(tc.grpcAddress());
        assertThat(statusAtTc(xid).isCommitDecided()).as("status " + statusAtTc(xid)).isTrue();
        assertThat(XidContext.current()).isNull();
    }

    @Test
    void afterItsFirstBeginTheTmMakesTheXidAndTheTcCreatesTheTransactionAtCommit() {
        template.execute(TransactionDefinition.named("it-first"), XidContext::current); // the TC says its minor

        String xid = template.execute(TransactionDefinition.named("it-beginless"), XidContext::current);

        assertThat(Xid.parse(xid).tmMade()).as(xid).isTrue();
        assertThat(xid).startsWith(tc.grpcAddress() + ":");
        assertThat(statusAtTc(xid)).as("no branch: committed at once").isEqualTo(GlobalStatus.COMMITTED);
    }

    @Test
    void anXidSentToAnotherServiceBeforeAnyBranchIsCreatedAtTheTcFirst() {
        template.execute(TransactionDefinition.named("it-first"), XidContext::current);
        GlobalStatus[] whileSending = new GlobalStatus[1];

        String xid = template.execute(TransactionDefinition.named("it-sends"), () -> {
            String mine = XidContext.current();
            XidPropagation.inject((header, value) -> whileSending[0] = statusAtTc(value));
            return mine;
        });

        assertThat(Xid.parse(xid).tmMade()).isTrue();
        assertThat(whileSending[0]).as("the callee's RM must find it").isEqualTo(GlobalStatus.BEGIN);
        assertThat(statusAtTc(xid).isCommitDecided()).isTrue();
    }

    @Test
    void withBeginlessOffTheTmKeepsCallingBegin() {
        GlobalTransactionTemplate withBegin = new GlobalTransactionTemplate(client,
                TmConfig.defaults().withRetryBackoff(Duration.ofMillis(10)).withBeginless(false));
        template.execute(TransactionDefinition.named("it-first"), XidContext::current);

        String xid = withBegin.execute(TransactionDefinition.named("it-begin"), XidContext::current);

        assertThat(Xid.parse(xid).tmMade()).as(xid).isFalse();
        assertThat(statusAtTc(xid).isCommitDecided()).isTrue();
    }

    @Test
    void aThrowingBodyShouldEndRolledBackAtTheTc() {
        String[] xid = new String[1];
        IllegalStateException business = new IllegalStateException("no");

        Throwable thrown = catchThrowable(() -> template.execute(TransactionDefinition.named("it-rollback"), () -> {
            xid[0] = XidContext.current();
            throw business;
        }));

        assertThat(thrown).isSameAs(business);
        assertThat(statusAtTc(xid[0]).isRollbackDecided()).as("status " + statusAtTc(xid[0])).isTrue();
    }

    @Test
    void aTransactionThatTimedOutShouldReportRolledBackNotCommitted() {
        String[] xid = new String[1];

        Throwable thrown = catchThrowable(() -> template.execute(
                TransactionDefinition.named("it-timeout").withTimeout(Duration.ofMillis(300)), () -> {
                    xid[0] = XidContext.current();
                    Thread.sleep(900);
                    return "late";
                }));

        assertThat(thrown).isInstanceOf(GlobalTransactionRolledBackException.class)
                .hasMessageContaining(xid[0]).hasMessageContaining("timed out");
        assertThat(statusAtTc(xid[0]).isRollbackDecided()).isTrue();
    }

    @Test
    void requiresNewShouldCommitOnItsOwnWhileTheOuterOneRollsBack() {
        String[] xids = new String[2];
        catchThrowable(() -> template.execute(TransactionDefinition.named("it-outer"), () -> {
            xids[0] = XidContext.current();
            xids[1] = template.execute(TransactionDefinition.named("it-inner").withPropagation(Propagation.REQUIRES_NEW),
                    XidContext::current);
            throw new IllegalStateException("outer fails after inner committed");
        }));

        assertThat(xids[1]).isNotEqualTo(xids[0]);
        assertThat(statusAtTc(xids[1]).isCommitDecided()).isTrue();
        assertThat(statusAtTc(xids[0]).isRollbackDecided()).isTrue();
    }

    @Test
    void aTcThatDiesBeforeCommitShouldGiveAnUnknownOutcomeNeverSuccess() throws Exception {
        try (TcProcess doomed = TcProcess.postgres().start();
             TcClient doomedClient = new TcClient(new TcClientConfig(doomed.grpcAddress(), "template-it", "",
                     Duration.ofSeconds(1), 2, Duration.ofMillis(10)))) {
            GlobalTransactionTemplate t = new GlobalTransactionTemplate(doomedClient,
                    new TmConfig(Duration.ofSeconds(30), io.cohort.tm.CommitProtocol.DEFAULT, 2, 1, Duration.ofMillis(10)));
            TcAnswering.await(doomedClient);
            String[] xid = new String[1];

            Throwable thrown = catchThrowable(() -> t.execute(TransactionDefinition.named("it-lost"), () -> {
                xid[0] = XidContext.current();
                doomed.kill();
                return "written";
            }));

            assertThat(thrown).isInstanceOf(GlobalTransactionOutcomeUnknownException.class)
                    .hasMessageContaining("UNKNOWN").hasMessageContaining(xid[0])
                    .hasMessageContaining("/api/v1/transactions/" + xid[0]);
        }
    }
}
