package io.cohort.tm.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tm.CommitProtocol;
import io.cohort.tm.GlobalTransactionOutcomeUnknownException;
import io.cohort.tm.GlobalTransactionRollbackFailedException;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TcpProxy;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TmConfig;
import io.cohort.tm.template.TransactionDefinition;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The TM's failure paths against the real TC with a {@link TcpProxy} between them: answers that come
 * too late, a network that swallows everything, a connection cut. What the TC ended with is read from
 * its REST API, not from the TM.
 */
class NetworkFailuresIT {

    /** Generous: the machine running the tests may be loaded, and a late answer must still be told from a lost one. */
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(3);
    private static final int COMMIT_ATTEMPTS = 3;
    /** Transactions outlive every test, so the TC's status is the TM's doing, never the timeout's. */
    private static final Duration TX_TIMEOUT = Duration.ofMinutes(5);

    private static TcProcess tc;
    private TcpProxy proxy;
    private TcClient client;
    private GlobalTransactionTemplate template;

    @BeforeAll
    static void startTc() throws Exception {
        tc = TcProcess.embedded(Files.createTempDirectory("cohort-network-failures").resolve("data"),
                "--cohort.tc.store.embedded.fsync=false").start();
    }

    @AfterAll
    static void stopTc() {
        tc.close();
    }

    @BeforeEach
    void connectThroughAProxy() throws Exception {
        proxy = new TcpProxy("127.0.0.1", tc.grpcPort());
        client = new TcClient(new TcClientConfig(proxy.address(), "network-failures-it", "", CALL_TIMEOUT, 1,
                Duration.ofMillis(10)));
        template = new GlobalTransactionTemplate(client,
                new TmConfig(TX_TIMEOUT, CommitProtocol.DEFAULT, COMMIT_ATTEMPTS, 2, Duration.ofMillis(10)));
        TcAnswering.await(client);
    }

    @AfterEach
    void close() throws Exception {
        client.close();
        proxy.close();
        assertThat(XidContext.current()).as("XID left bound after the test").isNull();
    }

    @Test
    void aCommitAnsweredAfterTheCallTimeoutShouldBeRetriedAndCommitted() {
        String[] xid = new String[1];
        long start = System.nanoTime();

        String result = template.execute(TransactionDefinition.named("late-answer").withTimeout(TX_TIMEOUT), () -> {
            xid[0] = XidContext.current();
            // Held longer than one call's deadline and shorter than two: the first commit cannot be
            // answered in time, so success means a later attempt was.
            proxy.pauseFor(CALL_TIMEOUT.multipliedBy(3).dividedBy(2));
            return "done";
        });

        assertThat(result).isEqualTo("done");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("the first commit waited out its deadline")
                .isGreaterThan(CALL_TIMEOUT);
        assertThat(statusAtTc(xid[0]).isCommitDecided()).as("status " + statusAtTc(xid[0])).isTrue();
    }

    @Test
    void aCommitThatNeverGetsThroughShouldBeAnUnknownOutcomeWithTheTcStillInBegin() {
        String[] xid = new String[1];

        Throwable thrown = catchThrowable(() -> template.execute(
                TransactionDefinition.named("blackholed").withTimeout(TX_TIMEOUT), () -> {
                    xid[0] = XidContext.current();
                    proxy.blackhole();
                    return "written";
                }));

        assertThat(thrown).isInstanceOf(GlobalTransactionOutcomeUnknownException.class)
                .hasMessageContaining("UNKNOWN").hasMessageContaining(xid[0])
                .hasMessageContaining("/api/v1/transactions/" + xid[0]);
        assertThat(((GlobalTransactionOutcomeUnknownException) thrown).xid()).isEqualTo(xid[0]);
        assertThat(statusAtTc(xid[0])).as("no commit reached the TC").isEqualTo(GlobalStatus.BEGIN);
    }

    @Test
    void aRollbackCutOffShouldBeSuppressedOnTheBusinessExceptionWithTheTcStillInBegin() {
        String[] xid = new String[1];
        RuntimeException business = new RuntimeException("insufficient funds");

        Throwable thrown = catchThrowable(() -> template.execute(
                TransactionDefinition.named("cut").withTimeout(TX_TIMEOUT), () -> {
                    xid[0] = XidContext.current();
                    proxy.cut();
                    throw business;
                }));

        assertThat(thrown).isSameAs(business);
        assertThat(thrown.getSuppressed()).singleElement()
                .isInstanceOf(GlobalTransactionRollbackFailedException.class)
                .extracting(Throwable::getMessage).asString().contains(xid[0]);
        assertThat(statusAtTc(xid[0])).as("no rollback reached the TC").isEqualTo(GlobalStatus.BEGIN);
    }

    /** The transaction's status as the TC's REST API shows it (straight to the TC, not through the proxy). */
    private static GlobalStatus statusAtTc(String xid) {
        try {
            HttpResponse<String> detail = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
                    "http://127.0.0.1:" + tc.httpPort() + "/api/v1/transactions/" + xid)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(detail.statusCode()).as("GET transaction " + xid + ": " + detail.body()).isEqualTo(200);
            Matcher status = Pattern.compile("\"transaction\"\\s*:\\s*\\{[^{}]*?\"status\"\\s*:\\s*\"(\\w+)\"")
                    .matcher(detail.body());
            assertThat(status.find()).as("a status in " + detail.body()).isTrue();
            return GlobalStatus.valueOf(status.group(1));
        } catch (java.io.IOException e) {
            throw new IllegalStateException("the TC's REST API did not answer for " + xid, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
