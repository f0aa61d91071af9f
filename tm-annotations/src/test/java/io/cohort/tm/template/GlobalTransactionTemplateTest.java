package io.cohort.tm.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tm.CommitProtocol;
import io.cohort.tm.GlobalTransactionBeginException;
import io.cohort.tm.GlobalTransactionPropagationException;
import io.cohort.tm.Propagation;
import io.cohort.tm.RecordingCoordinator;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The template's begin / commit / rollback and propagation rules, against a recording TC on a real
 * gRPC port. The network failure paths are in {@code NetworkFailuresIT}, against the real TC.
 */
class GlobalTransactionTemplateTest {

    private static final TmConfig FAST_RETRIES = TmConfig.defaults().withRetryBackoff(Duration.ofMillis(1));

    private RecordingCoordinator tc;
    private TcClient client;
    private GlobalTransactionTemplate template;

    @BeforeEach
    void start() throws IOException {
        tc = new RecordingCoordinator();
        client = new TcClient(new TcClientConfig(tc.address(), "template-test", "", Duration.ofSeconds(2), 1,
                Duration.ofMillis(1)));
        template = new GlobalTransactionTemplate(client, FAST_RETRIES);
    }

    @AfterEach
    void stop() throws InterruptedException {
        client.close();
        tc.close();
        assertThat(XidContext.current()).as("XID left bound after the test").isNull();
    }

    @Test
    void shouldBeginBindCommitAndUnbindWhenTheBodyReturns() {
        String seenXid = template.execute(TransactionDefinition.named("transfer"), XidContext::current);

        assertThat(seenXid).isEqualTo(tc.begun().get(0).xid());
        assertThat(tc.calls()).containsExactly("begin transfer", "commit " + seenXid);
        assertThat(tc.statusOf(seenXid)).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(XidContext.current()).isNull();
    }

    @Test
    void shouldSendTimeoutAndProtocolFromTheDefinitionOrTheDefaults() {
        template.execute(TransactionDefinition.named("a").withTimeout(Duration.ofMillis(1234))
                .withProtocol(CommitProtocol.THREE_PHASE), () -> null);
        template.execute(TransactionDefinition.named("b"), () -> null);

        assertThat(tc.begun().get(0).timeoutMs()).isEqualTo(1234);
        assertThat(tc.begun().get(0).protocol()).isEqualTo(TransactionProtocol.THREE_PHASE);
        assertThat(tc.begun().get(1).timeoutMs()).isEqualTo(TmConfig.DEFAULT_TIMEOUT.toMillis());
        assertThat(tc.begun().get(1).protocol()).isEqualTo(TransactionProtocol.PROTOCOL_UNSPECIFIED);
    }

    @Test
    void shouldRollBackAndRethrowTheSameInstanceWhenTheBodyThrowsARuntimeException() {
        IllegalStateException business = new IllegalStateException("insufficient funds");

        Throwable thrown = catchThrowable(() -> template.execute(TransactionDefinition.named("transfer"), () -> {
            throw business;
        }));

        assertThat(thrown).isSameAs(business);
        assertThat(thrown.getSuppressed()).isEmpty();
        String xid = tc.begun().get(0).xid();
        assertThat(tc.calls()).containsExactly("begin transfer", "rollback " + xid);
    }

    @Test
    void shouldRollBackOnACheckedExceptionByDefaultAndCommitWhenNoRollbackForNamesIt() {
        Exception checked = new IOException("checked");
        assertThatThrownBy(() -> template.execute(TransactionDefinition.named("default-rules"), () -> {
            throw checked;
        })).isSameAs(checked);
        assertThat(tc.calls()).last().asString().startsWith("rollback ");

        RollbackRules rules = RollbackRules.of(List.of(), List.of(IOException.class));
        assertThatThrownBy(() -> template.execute(TransactionDefinition.named("no-rollback-for").withRollbackRules(rules), () -> {
            throw checked;
        })).isSameAs(checked);
        assertThat(tc.calls()).last().asString().startsWith("commit ");
    }

    @Test
    void shouldFailFastNamingTheTcAddressWhenNoTcAnswersAtBeginAndNotRunTheBody() throws Exception {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            closedPort = socket.getLocalPort();
        }
        String address = "127.0.0.1:" + closedPort;
        try (TcClient down = new TcClient(new TcClientConfig(address, "t", "", Duration.ofSeconds(1), 1, Duration.ofMillis(1)))) {
            GlobalTransactionTemplate noTc = new GlobalTransactionTemplate(down, FAST_RETRIES);
            boolean[] ran = {false};

            assertThatThrownBy(() -> noTc.execute(TransactionDefinition.named("transfer"), () -> ran[0] = true))
                    .isInstanceOf(GlobalTransactionBeginException.class)
                    .hasMessageContaining(address)
                    .hasMessageContaining("'transfer'");
            assertThat(ran[0]).isFalse();
        }
    }

    @Test
    void requiredShouldJoinTheBoundTransactionAndLeaveCommitToTheMethodThatBeganIt() {
        String inner = template.execute(TransactionDefinition.named("outer"), () -> {
            String outerXid = XidContext.current();
            String joined = template.execute(TransactionDefinition.named("inner"), XidContext::current);
            assertThat(joined).isEqualTo(outerXid);
            assertThat(tc.calls()).as("the joined call neither began nor committed").containsExactly("begin outer");
            return joined;
        });
        assertThat(tc.calls()).containsExactly("begin outer", "commit " + inner);
    }

    @Test
    void aJoinedParticipantThatThrowsShouldNotRollBackItself() {
        RuntimeException failure = new RuntimeException("callee failed");
        assertThatThrownBy(() -> template.execute(TransactionDefinition.named("outer"), () ->
                template.execute(TransactionDefinition.named("inner"), () -> {
                    throw failure;
                }))).isSameAs(failure);

        String xid = tc.begun().get(0).xid();
        assertThat(tc.calls()).containsExactly("begin outer", "rollback " + xid);
    }

    @Test
    void requiresNewShouldSuspendTheBoundTransactionBeginANewOneAndRestoreTheOldOne() {
        template.execute(TransactionDefinition.named("outer"), () -> {
            String outerXid = XidContext.current();
            String newXid = template.execute(TransactionDefinition.named("inner").withPropagation(Propagation.REQUIRES_NEW),
                    XidContext::current);
            assertThat(newXid).isNotEqualTo(outerXid);
            assertThat(tc.statusOf(newXid)).as("inner committed on its own").isEqualTo(GlobalStatus.COMMITTED);
            assertThat(XidContext.current()).isEqualTo(outerXid);
            return null;
        });
        assertThat(tc.begun()).extracting(RecordingCoordinator.Begun::name).containsExactly("outer", "inner");
    }

    @Test
    void supportsShouldJoinWhenBoundAndRunWithoutOtherwise() {
        TransactionDefinition supports = TransactionDefinition.named("s").withPropagation(Propagation.SUPPORTS);

        assertThat(template.execute(supports, XidContext::current)).isNull();
        String joined = XidContext.runWith("10.0.0.1:8091:1", () -> template.execute(supports, XidContext::current));
        assertThat(joined).isEqualTo("10.0.0.1:8091:1");
        assertThat(tc.calls()).isEmpty();
    }

    @Test
    void notSupportedShouldRunWithoutTheBoundTransactionAndRestoreIt() {
        TransactionDefinition notSupported = TransactionDefinition.named("n").withPropagation(Propagation.NOT_SUPPORTED);

        String seen = XidContext.runWith("10.0.0.1:8091:1", () -> {
            String inside = template.execute(notSupported, XidContext::current);
            assertThat(XidContext.current()).isEqualTo("10.0.0.1:8091:1");
            return inside;
        });
        assertThat(seen).isNull();
        assertThat(tc.calls()).isEmpty();
    }

    @Test
    void mandatoryShouldFailClearlyWithoutABoundTransaction() {
        TransactionDefinition mandatory = TransactionDefinition.named("debit").withPropagation(Propagation.MANDATORY);

        assertThatThrownBy(() -> template.execute(mandatory, () -> "x"))
                .isInstanceOf(GlobalTransactionPropagationException.class)
                .hasMessageContaining("'debit'").hasMessageContaining("MANDATORY");
        assertThat(XidContext.runWith("10.0.0.1:8091:7", () -> template.execute(mandatory, XidContext::current)))
                .isEqualTo("10.0.0.1:8091:7");
    }

    @Test
    void neverShouldFailClearlyInsideABoundTransaction() {
        TransactionDefinition never = TransactionDefinition.named("report").withPropagation(Propagation.NEVER);

        assertThat(template.execute(never, () -> "ran")).isEqualTo("ran");
        assertThatThrownBy(() -> XidContext.runWith("10.0.0.1:8091:7", () -> template.execute(never, () -> "x")))
                .isInstanceOf(GlobalTransactionPropagationException.class)
                .hasMessageContaining("NEVER").hasMessageContaining("10.0.0.1:8091:7");
    }

    @Test
    void shouldLeaveNoXidOnAReusedPoolThreadWhateverTheOutcome() throws Exception {
        ExecutorService single = Executors.newSingleThreadExecutor();
        try {
            single.submit(() -> template.execute(TransactionDefinition.named("ok"), () -> "x")).get();
            assertThat(single.submit(XidContext::current).get()).isNull();

            single.submit(() -> catchThrowable(() -> template.execute(TransactionDefinition.named("fails"), () -> {
                throw new IllegalStateException();
            }))).get();
            assertThat(single.submit(XidContext::current).get()).isNull();
        } finally {
            single.shutdownNow();
            single.awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
