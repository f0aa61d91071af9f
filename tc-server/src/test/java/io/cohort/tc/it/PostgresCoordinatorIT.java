package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.Xid;
import io.cohort.protocol.v1.BeginRequest;
import io.cohort.protocol.v1.CallFrame;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.ReplyFrame;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TestPostgres;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every coordinator scenario on the PostgreSQL store. */
class PostgresCoordinatorIT extends CoordinatorScenarios {

    private String url;

    @BeforeEach
    @Override
    void startTc() {
        url = TestPostgres.get().createDatabase("tc_it");
        super.startTc();
    }

    @Override
    Map<String, Object> storeProperties() {
        return Map.of("cohort.tc.store.type", "postgres",
                "cohort.tc.store.postgres.url", url,
                "cohort.tc.store.postgres.username", TestPostgres.get().user(),
                "cohort.tc.store.postgres.password", TestPostgres.get().password(),
                "cohort.tc.store.postgres.max-pool-size", "8",
                // One id across the restarts of the scenarios: the restarted TC owns its transactions at once.
                "cohort.tc.store.postgres.replica-id", "coordinator-it");
    }

    /**
     * The store answers the caps from a count up to 100 ms old plus this replica's begins since: a
     * begin past the cap is refused at once, and one right after a transaction ended is admitted
     * (the refusal recounts exactly), not refused on the stale count.
     */
    @Test
    void capsRefuseAtTheLimitAndAdmitAgainAsSoonAsOneEnds() {
        stopTc();
        Map<String, Object> p = properties();
        p.put("cohort.tc.limits.max-active-transactions", "3");
        tc = new TcTestServer(p);
        client = new TcClient(TcClientConfig.of(tc.grpcAddress(), "test-tm"));
        rm = new TestRm(tc.grpcAddress(), "rm-1", List.of(R1, R2));

        String first = begin();
        begin();
        begin();
        assertThat(errorOf(this::begin)).isEqualTo(ErrorCode.TOO_MANY_TRANSACTIONS);
        client.rollback(first);
        awaitStatus(first, GlobalStatusCode.GLOBAL_ROLLBACKED);
        assertThat(begin()).as("admitted as soon as one ended").isNotEmpty();
        assertThat(errorOf(this::begin)).isEqualTo(ErrorCode.TOO_MANY_TRANSACTIONS);
    }

    /**
     * The answers that one group commit completes go out in one Calls-stream message, as the
     * embedded store's of one log batch do: 32 callers at once each begin and roll back a
     * transaction (each a durable write), so every batch holds several, and the answers need far
     * fewer messages than there are answers.
     */
    @Test
    void answersOfOneGroupCommitShareOneStreamMessage() throws Exception {
        int transactions = 320;
        try (TcClient streamed = CallsStreamIT.streamClient(CallsStreamIT.config(tc.grpcAddress(), "", 1))) {
            TcClient.CallsStreamTraffic before = streamed.callsStreamTraffic();
            ExecutorService callers = Executors.newFixedThreadPool(32);
            List<CompletableFuture<Boolean>> rolledBack = new ArrayList<>();
            try {
                for (int i = 0; i < transactions; i++) {
                    rolledBack.add(CompletableFuture.supplyAsync(() -> {
                        String xid = streamed.begin("batched", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
                        return streamed.rollback(xid).getXid().equals(xid);
                    }, callers));
                }
                for (CompletableFuture<Boolean> each : rolledBack) {
                    assertThat(each.get(AWAIT_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
                }
            } finally {
                callers.shutdownNow();
            }
            TcClient.CallsStreamTraffic after = streamed.callsStreamTraffic();
            long answers = after.answersReceived() - before.answersReceived();
            long messages = after.messagesReceived() - before.messagesReceived();
            assertThat(answers).isEqualTo(2L * transactions);
            // One message per answer when each completion sends its own (before group commits answered per batch).
            assertThat(messages).as("messages for %d answers", answers).isBetween(1L, answers / 2);
        }
    }

    /**
     * A call on a transaction this replica does not hold reads the database on the call pool, not on
     * the thread that read its frame (which runs the calls that read nothing): while that read waits
     * for a table lock, the same stream's next call, on a transaction held in memory, is answered.
     */
    @Test
    void aCallWaitingOnADatabaseReadDoesNotHoldUpTheStreamsNextCall() throws Exception {
        String unknown = "cohort:elsewhere:" + System.nanoTime();
        try (TcClient streamed = patientStreamClient(); Connection blocker = connect(); Connection observer = connect()) {
            String held = streamed.begin("held", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
            lockTheGlobalTable(blocker);
            CompletableFuture<ErrorCode> read = CompletableFuture.supplyAsync(() -> {
                try {
                    streamed.status(unknown);
                    return null;
                } catch (TcException e) {
                    return e.errorCode();
                }
            });
            await(() -> aReadOfOneTransactionWaitsForALock(observer), () -> "the status read of " + unknown
                    + " to wait for the table lock");

            assertThat(streamed.status(held).getStatus()).as("answered while the other call's read waits")
                    .isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            assertThat(read).as("the read still waits for the lock").isNotDone();
            blocker.rollback();
            assertThat(read.get(AWAIT_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).isEqualTo(ErrorCode.UNKNOWN_XID);
        }
    }

    /**
     * A begin naming an XID the TM made reads whether the TC knows it: while that read waits for a
     * table lock, the same stream's next call is answered. (It ran where its frame was read, and held
     * up the stream's next frames.)
     */
    @Test
    void aBeginNamingAnUnknownTmMadeXidDoesNotHoldUpTheStreamsNextCall() throws Exception {
        String held = client.begin("held", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
        String tmMade = Xid.tmMade("10.0.0.1:8091", 1, new Random()).toString();
        ManagedChannel channel = NettyChannelBuilder.forTarget(tc.grpcAddress()).usePlaintext().build();
        try (Connection blocker = connect(); Connection observer = connect()) {
            lockTheGlobalTable(blocker);
            CallsStreamIT.RawStream<CallFrame> raw = CallsStreamIT.RawStream.open(channel,
                    TransactionCoordinatorGrpc.getCallsMethod());
            raw.call.sendMessage(CallFrame.newBuilder().setCallId(1).setBegin(BeginRequest.newBuilder()
                    .setXid(tmMade).setName("announced").setProtocolMinor(Protocol.PROTOCOL_MINOR)).build());
            await(() -> aReadOfOneTransactionWaitsForALock(observer), () -> "the begin's read of " + tmMade
                    + " to wait for the table lock");

            raw.call.sendMessage(CallsStreamIT.statusFrame(2, held));

            ReplyFrame answer = raw.<ReplyFrame>awaitReplies(1).get(0);
            assertThat(answer.getCallId()).as("the status, answered while the begin's read waits").isEqualTo(2);
            assertThat(answer.getGlobalStatus().getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            blocker.rollback();
            assertThat(raw.<ReplyFrame>awaitReplies(2).get(1).getBegin().getXid()).isEqualTo(tmMade);
        } finally {
            channel.shutdownNow();
        }
    }

    /**
     * A begin under the caps reads nothing: the caps' count, older than its 100 ms, is counted again
     * in the background, and while that count waits for a table lock the same stream's next call is
     * answered. (The begin counted again itself, where its frame was read, holding up the stream.)
     */
    @Test
    void aBeginOnAnOldCapsCountDoesNotHoldUpTheStreamsNextCall() throws Exception {
        try (TcClient streamed = patientStreamClient(); Connection blocker = connect(); Connection observer = connect()) {
            String held = streamed.begin("held", Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE);
            lockTheGlobalTable(blocker);
            Thread.sleep(150); // every count taken so far is now older than the 100 ms after which it is taken again
            CompletableFuture<String> begun = CompletableFuture.supplyAsync(() -> streamed.begin("next",
                    Duration.ofMinutes(1), TransactionProtocol.TWO_PHASE));
            await(() -> waitsForALock(observer, "SELECT application_id, count(*) FROM cohort_global_tx%"),
                    () -> "the caps' count to wait for the table lock");

            assertThat(streamed.status(held).getStatus()).as("answered while the count waits")
                    .isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
            blocker.rollback();
            assertThat(begun.get(AWAIT_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)).isNotEmpty();
        }
    }

    /**
     * A Calls-stream client whose calls wait as long as the test does: a held-up call fails by that
     * deadline, not by the machine's speed.
     */
    private TcClient patientStreamClient() {
        return CallsStreamIT.streamClient(new TcClientConfig(tc.grpcAddress(), "calls-it", "", AWAIT_DEADLINE, 1,
                Duration.ofMillis(100)));
    }

    private Connection connect() throws SQLException {
        return DriverManager.getConnection(url, TestPostgres.get().user(), TestPostgres.get().password());
    }

    /** {@code blocker} holds {@code cohort_global_tx} exclusively until it rolls back: every statement on it waits. */
    private static void lockTheGlobalTable(Connection blocker) throws SQLException {
        blocker.setAutoCommit(false);
        try (Statement st = blocker.createStatement()) {
            st.execute("LOCK TABLE cohort_global_tx IN ACCESS EXCLUSIVE MODE");
        }
    }

    /** Whether a backend waits for a lock in the store's read of one transaction ({@code observer} in autocommit). */
    private static boolean aReadOfOneTransactionWaitsForALock(Connection observer) {
        return waitsForALock(observer, "SELECT xid, name%FROM cohort_global_tx WHERE xid = %");
    }

    /** Whether a backend waits for a lock in a statement like {@code pattern} ({@code observer} in autocommit). */
    private static boolean waitsForALock(Connection observer, String pattern) {
        try (PreparedStatement ps = observer.prepareStatement(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE ?")) {
            ps.setString(1, pattern);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1) > 0;
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }
}
