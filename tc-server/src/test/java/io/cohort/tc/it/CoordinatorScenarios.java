package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchStatusCode;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.TransactionProtocol;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The coordinator end to end over real gRPC, with a test RM on the real command stream, against
 * one store. Subclasses pick the store; every scenario runs on both. What only a running TC shows
 * is here: requests and answers on the wire, the REST API, restarts on the same data, commands
 * answered late on the stream. The coordinator's logic itself (phase 2, retries and backoff,
 * timeouts, 3PC, lock waits) is tested without a server and without real time in
 * {@code coordinator.ScriptedCoordinatorTest}.
 */
abstract class CoordinatorScenarios {

    static final String R1 = "jdbc:postgresql://db1/bank_a";
    static final String R2 = "jdbc:postgresql://db2/bank_b";
    static final int MAX_ATTEMPTS = 10;
    static final Duration MAX_BACKOFF = Duration.ofMillis(400);
    /** How long {@link #await} waits for a condition. */
    static final Duration AWAIT_DEADLINE = Duration.ofSeconds(60);

    TcTestServer tc;
    TcClient client;
    TestRm rm;
    final HttpClient http = HttpClient.newHttpClient();

    /** Store settings for a new TC; calling it again must give a TC on the same data. */
    abstract Map<String, Object> storeProperties();

    Map<String, Object> properties() {
        Map<String, Object> p = new HashMap<>(storeProperties());
        p.put("cohort.tc.recovery.interval", "100ms");
        p.put("cohort.tc.recovery.initial-backoff", "50ms");
        p.put("cohort.tc.recovery.max-backoff", MAX_BACKOFF.toMillis() + "ms");
        p.put("cohort.tc.recovery.max-attempts", String.valueOf(MAX_ATTEMPTS));
        p.put("cohort.tc.recovery.command-timeout", "2s");
        p.put("cohort.tc.three-phase.vote-timeout", "1s");
        return p;
    }

    @BeforeEach
    void startTc() {
        tc = new TcTestServer(properties());
        client = new TcClient(new TcClientConfig(tc.grpcAddress(), "test-tm", "", Duration.ofSeconds(5), 1,
                Duration.ofMillis(50)));
        rm = new TestRm(tc.grpcAddress(), "rm-1", List.of(R1, R2));
    }

    @AfterEach
    void stopTc() {
        rm.close();
        client.close();
        tc.close();
    }

    /**
     * Stops the TC, TM client and RM, and starts them again on the same data. The new TC resumes
     * phase 2 while its context is still starting, before any RM can reconnect, and every pass
     * without an RM spends an attempt: on a loaded machine MAX_ATTEMPTS backoffs (about 3 s) run
     * out first. So the restarted TC's budget outlasts {@link #AWAIT_DEADLINE}: a scenario then
     * fails only when its RM really does not come back in time.
     */
    void restartTc() {
        if (rm != null) {
            rm.close();
        }
        client.close();
        tc.close();
        Map<String, Object> p = properties();
        p.put("cohort.tc.recovery.max-attempts",
                String.valueOf(MAX_ATTEMPTS + AWAIT_DEADLINE.toMillis() / MAX_BACKOFF.toMillis()));
        tc = new TcTestServer(p);
        client = new TcClient(TcClientConfig.of(tc.grpcAddress(), "test-tm"));
        rm = new TestRm(tc.grpcAddress(), "rm-1", List.of(R1, R2));
    }

    String begin() {
        return client.begin("transfer", Duration.ofSeconds(30), TransactionProtocol.TWO_PHASE);
    }

    long register(String xid, String resource, String... lockKeys) {
        RegisterBranchResponse r = client.registerBranch(xid, resource, List.of(lockKeys), new byte[0], "rm-1");
        assertThat(r.hasBranchId()).as("registered, not %s", r).isTrue();
        return r.getBranchId();
    }

    GlobalStatusCode status(String xid) {
        return client.status(xid).getStatus();
    }

    void awaitStatus(String xid, GlobalStatusCode expected) {
        await(() -> status(xid) == expected, () -> xid + " to reach " + expected + " (is " + status(xid) + ")");
    }

    static void await(BooleanSupplier condition, java.util.function.Supplier<String> what) {
        long deadline = System.nanoTime() + AWAIT_DEADLINE.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Timed out waiting for " + what.get());
            }
            TestRm.sleep(20);
        }
    }

    ErrorCode errorOf(Runnable call) {
        try {
            call.run();
        } catch (TcException e) {
            return e.errorCode();
        }
        throw new AssertionError("expected the TC to refuse the call");
    }

    HttpResponse<String> rest(String method, String path) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://localhost:" + tc.httpPort() + path))
                .method(method, HttpRequest.BodyPublishers.noBody()).build();
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aTransactionMarkedRollbackOnlyIsRolledBackAndItsCommitRefusedWithTheReason() throws Exception {
        String xid = begin();
        long b1 = register(xid, R1, "account:1");

        GlobalStatusResponse marked = client.markRollbackOnly(xid, R2, "lock conflict on account:2\nheld by tc:9");
        assertThat(marked.getStatus()).isIn(GlobalStatusCode.GLOBAL_ROLLBACKING, GlobalStatusCode.GLOBAL_ROLLBACKED);
        assertThat(marked.getReason()).isEqualTo("rollback-only: a branch on resource " + R2
                + " failed in phase 1: lock conflict on account:2 held by tc:9");
        TcException refused = org.assertj.core.api.Assertions.catchThrowableOfType(TcException.class,
                () -> client.commit(xid));
        assertThat(refused.errorCode()).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
        assertThat(refused).hasMessageContaining("rollback-only").hasMessageContaining("lock conflict on account:2");
        assertThat(errorOf(() -> register(xid, R1, "account:5"))).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
        assertThat(client.markRollbackOnly(xid, R2, "again").getReason()).as("idempotent").contains("lock conflict");

        awaitStatus(xid, GlobalStatusCode.GLOBAL_ROLLBACKED);
        assertThat(rm.receivedFor(xid)).extracting(BranchCommand::getBranchId).containsExactly(b1);
        assertThat(rm.receivedFor(xid)).allMatch(c -> c.getAction() == BranchAction.ROLLBACK);

        String committed = begin();
        register(committed, R1, "account:3");
        client.commit(committed);
        assertThat(client.markRollbackOnly(committed, R2, "too late").getStatus())
                .as("a decided commit is answered, not undone")
                .isIn(GlobalStatusCode.GLOBAL_ASYNC_COMMITTING, GlobalStatusCode.GLOBAL_COMMITTED);
        assertThat(errorOf(() -> client.markRollbackOnly(committed, "", "x"))).isEqualTo(ErrorCode.INVALID_REQUEST);
        assertThat(errorOf(() -> client.markRollbackOnly("10.0.0.1:8091:42", R1, "x"))).isEqualTo(ErrorCode.UNKNOWN_XID);

        // The decision and its reason are durable: a restarted TC still refuses the commit, with the reason.
        restartTc();
        assertThat(client.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_ROLLBACKED);
        assertThat(client.status(xid).getReason()).contains("rollback-only").contains("lock conflict on account:2");
        assertThat(errorOf(() -> client.commit(xid))).isEqualTo(ErrorCode.GLOBAL_NOT_ACTIVE);
    }

    @Test
    void badInputIsRefusedWithAReasonAndChangesNothing() {
        assertThat(errorOf(() -> client.status("10.0.0.1:8091:42"))).isEqualTo(ErrorCode.UNKNOWN_XID);
        assertThat(errorOf(() -> client.commit("not-an-xid"))).isEqualTo(ErrorCode.INVALID_REQUEST);
        assertThat(errorOf(() -> client.begin("x", Duration.ofDays(2), TransactionProtocol.TWO_PHASE)))
                .isEqualTo(ErrorCode.INVALID_REQUEST);

        String xid = begin();
        assertThat(errorOf(() -> register(xid, "jdbc:postgresql://nobody/announced", "account:1")))
                .isEqualTo(ErrorCode.UNKNOWN_RESOURCE);
        assertThat(errorOf(() -> register(xid, R1, "account"))).isEqualTo(ErrorCode.INVALID_REQUEST);
        // (An empty primary-key value, "account:1," or "t:", names a row since the LockKeys codec: '' is a key.)
        assertThat(errorOf(() -> register(xid, R1, ":1"))).isEqualTo(ErrorCode.INVALID_REQUEST);
        assertThatThrownBy(() -> client.registerBranch(xid, R1, List.of("account:1"), new byte[2 * 1024 * 1024], "rm-1"))
                .isInstanceOf(TcException.class).hasMessageContaining("RESOURCE_EXHAUSTED");
        assertThat(errorOf(() -> client.registerBranch(xid, R1, List.of("account:1"), new byte[100 * 1024], "rm-1")))
                .isEqualTo(ErrorCode.REQUEST_TOO_LARGE);
        assertThat(errorOf(() -> client.reportBranch(xid, 12345, BranchStatusCode.BRANCH_PHASE1_FAILED, "x", false)))
                .isEqualTo(ErrorCode.UNKNOWN_BRANCH);

        // None of that registered anything: the rows are free and the transaction commits empty.
        assertThat(client.queryLocks(R1, List.of("account:1"), "").getLockable()).isTrue();
        client.commit(xid);
        awaitStatus(xid, GlobalStatusCode.GLOBAL_COMMITTED);
        assertThat(rm.receivedFor(xid)).isEmpty();
    }

    @Test
    void aLateAnswerToAnEarlierCommandIsIgnoredAndTheRetryDecides() {
        AtomicInteger attempts = new AtomicInteger();
        java.util.concurrent.CountDownLatch lateAnswerSent = new java.util.concurrent.CountDownLatch(1);
        rm.answer = c -> {
            if (attempts.incrementAndGet() == 1) {
                TestRm.sleep(3000); // past cohort.tc.recovery.command-timeout: the TC gives up on this one
                lateAnswerSent.countDown();
                return BranchStatusCode.BRANCH_PHASE2_ROLLBACKED; // and a nonsense late answer must not count
            }
            return TestRm.success(c);
        };
        String xid = begin();
        register(xid, R1, "account:1");
        client.commit(xid);

        awaitStatus(xid, GlobalStatusCode.GLOBAL_COMMITTED);
        try {
            assertThat(lateAnswerSent.await(30, java.util.concurrent.TimeUnit.SECONDS)).as("late answer sent").isTrue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        TestRm.sleep(500); // it is on the wire now: give the TC a moment to (wrongly) act on it
        assertThat(status(xid)).isEqualTo(GlobalStatusCode.GLOBAL_COMMITTED);
        assertThat(rm.receivedFor(xid)).hasSizeGreaterThanOrEqualTo(2);
    }

    @Test
    void aDirtyRollbackWaitsForAPersonAndKeepsTheLocks() throws Exception {
        rm.answer = c -> BranchStatusCode.BRANCH_PHASE2_ROLLBACK_FAILED_DIRTY;
        String xid = begin();
        register(xid, R1, "account:5");
        client.rollback(xid);

        awaitStatus(xid, GlobalStatusCode.GLOBAL_ROLLBACK_FAILED);
        assertThat(client.queryLocks(R1, List.of("account:5"), "").getConflict().getHolderXid()).isEqualTo(xid);
        // A writer waiting for these rows learns the holder is rolling back (and needs them), so it stops waiting.
        assertThat(client.queryLocks(R1, List.of("account:5"), "").getConflict().getHolderStatus())
                .isEqualTo(GlobalStatusCode.GLOBAL_ROLLBACK_FAILED);
        HttpResponse<String> detail = rest("GET", "/api/v1/transactions/" + xid);
        assertThat(detail.statusCode()).isEqualTo(200);
        assertThat(detail.body()).contains("PHASE2_ROLLBACK_FAILED_DIRTY").contains("ROLLBACK_FAILED");
        assertThat(rest("GET", "/api/v1/transactions?status=ROLLBACK_FAILED").body()).contains(xid);
        assertThat(rest("GET", "/api/v1/locks").body()).contains(xid);

        rm.answer = TestRm::success; // a person repaired the row
        assertThat(rest("POST", "/api/v1/transactions/" + xid + "/rollback").statusCode()).isEqualTo(200);
        awaitStatus(xid, GlobalStatusCode.GLOBAL_ROLLBACKED);
        assertThat(client.queryLocks(R1, List.of("account:5"), "").getLockable()).isTrue();
    }

    @Test
    void restApiExplainsBadRequests() throws Exception {
        HttpResponse<String> unknown = rest("GET", "/api/v1/transactions/10.0.0.1:8091:1");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("UNKNOWN_XID");
        HttpResponse<String> badStatus = rest("GET", "/api/v1/transactions?status=DONE");
        assertThat(badStatus.statusCode()).isEqualTo(400);
        assertThat(badStatus.body()).contains("Unknown status 'DONE'");
        String xid = begin();
        HttpResponse<String> retryBegin = rest("POST", "/api/v1/transactions/" + xid + "/retry");
        assertThat(retryBegin.statusCode()).isEqualTo(409);
        assertThat(status(xid)).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
        assertThat(rest("GET", "/actuator/health").body()).contains("\"store\"");
        String metrics = rest("GET", "/actuator/prometheus").body();
        assertThat(metrics).contains("cohort_tc_transactions_total").contains("cohort_store_fsync");
    }

    @Test
    void unfinishedTransactionsAreFinishedAfterARestart() {
        rm.close(); // no RM: phase 2 cannot run before the restart
        rm = null;
        String committing = begin();
        String rollingBack = begin();
        // Registration needs an RM announcing the resources.
        try (TestRm registering = new TestRm(tc.grpcAddress(), "rm-1", List.of(R1, R2))) {
            registering.answer = c -> BranchStatusCode.BRANCH_PHASE2_COMMIT_FAILED_RETRYABLE;
            register(committing, R1, "account:1");
            register(rollingBack, R2, "account:2");
            client.commit(committing);
            client.rollback(rollingBack);
        }
        String open = begin();

        restartTc();

        awaitStatus(committing, GlobalStatusCode.GLOBAL_COMMITTED);
        awaitStatus(rollingBack, GlobalStatusCode.GLOBAL_ROLLBACKED);
        assertThat(status(open)).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
        assertThat(rm.receivedFor(rollingBack)).extracting(BranchCommand::getAction).containsOnly(BranchAction.ROLLBACK);
    }

    // ---- three-phase commit ----

    String begin3pc() {
        return client.begin("transfer-3pc", Duration.ofSeconds(30), TransactionProtocol.THREE_PHASE);
    }

    List<BranchAction> actionsFor(String xid, long branchId) {
        return rm.receivedFor(xid).stream().filter(c -> c.getBranchId() == branchId).map(BranchCommand::getAction).toList();
    }

    @Test
    void aRegistrationTellsTheRmTheProtocolOfItsGlobalTransaction() {
        assertThat(client.registerBranch(begin3pc(), R1, List.of("account:7"), new byte[0], "rm-1").getProtocol())
                .isEqualTo(TransactionProtocol.THREE_PHASE);
        assertThat(client.registerBranch(begin(), R1, List.of("account:8"), new byte[0], "rm-1").getProtocol())
                .isEqualTo(TransactionProtocol.TWO_PHASE);
    }

    @Test
    void aBranchItsRmRolledBackAloneIsRedoneAndTheOutcomeIsMarkedHeuristic() throws Exception {
        String xid = begin3pc();
        long b1 = register(xid, R1, "account:1");
        long b2 = register(xid, R2, "account:2");
        // b2's RM was cut off before PreCommit reached it, timed out and rolled back on its own.
        rm.answer = c -> c.getAction() == BranchAction.PRE_COMMIT && c.getBranchId() == b2
                ? BranchStatusCode.BRANCH_PHASE2_ROLLBACKED : TestRm.success(c);
        rm.decidedByRm = c -> c.getAction() == BranchAction.PRE_COMMIT && c.getBranchId() == b2;

        client.commit(xid);
        awaitStatus(xid, GlobalStatusCode.GLOBAL_COMMITTED);

        GlobalStatusResponse end = client.status(xid);
        assertThat(end.getHeuristic()).isTrue();
        assertThat(end.getHeuristicEvidence()).contains("rolled back by its RM on its own");
        assertThat(end.getReason()).contains("repaired");
        assertThat(actionsFor(xid, b2)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.PRE_COMMIT,
                BranchAction.REDO);
        assertThat(actionsFor(xid, b1)).containsExactly(BranchAction.CAN_COMMIT, BranchAction.PRE_COMMIT,
                BranchAction.COMMIT);
        String detail = rest("GET", "/api/v1/transactions/" + xid).body();
        assertThat(detail).contains("\"heuristic\":true").contains("redone by the TC");
        assertThat(rest("GET", "/actuator/prometheus").body())
                .containsPattern("cohort_tc_transactions_total\\{[^}]*event=\"heuristic\"[^}]*\\} [1-9]");
    }

    @Test
    void aTcRestartWhileCollectingVotesAbortsAndOneAfterPreCommitCommits() {
        String voting = begin3pc();
        register(voting, R1, "account:1");
        String preCommitted = begin3pc();
        register(preCommitted, R2, "account:2");
        rm.answer = c -> {
            if (c.getXid().equals(voting) && c.getAction() == BranchAction.CAN_COMMIT) {
                TestRm.sleep(60_000); // never answers before the TC dies
            }
            if (c.getXid().equals(preCommitted) && c.getAction() == BranchAction.PRE_COMMIT) {
                return BranchStatusCode.BRANCH_PHASE2_COMMIT_FAILED_RETRYABLE;
            }
            return TestRm.success(c);
        };
        client.commit(preCommitted);
        awaitStatus(preCommitted, GlobalStatusCode.GLOBAL_PRE_COMMITTED);
        Thread commitInFlight = new Thread(() -> {
            try {
                client.commit(voting);
            } catch (RuntimeException expected) {
                // the TC goes away mid-vote
            }
        });
        commitInFlight.start();
        await(() -> status(voting) == GlobalStatusCode.GLOBAL_PRE_COMMITTING, () -> voting + " voting");

        restartTc();

        awaitStatus(voting, GlobalStatusCode.GLOBAL_ROLLBACKED);
        assertThat(rm.receivedFor(voting)).extracting(BranchCommand::getAction).containsOnly(BranchAction.ROLLBACK);
        awaitStatus(preCommitted, GlobalStatusCode.GLOBAL_COMMITTED);
    }
}
