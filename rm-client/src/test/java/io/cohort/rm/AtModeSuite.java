package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.XidContext;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.RegisterBranchResponse;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import javax.sql.DataSource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * AT mode with the real TC (tc-server's jar as a child process, one for the class), the same cases on
 * every database: the test is the TM ({@link io.cohort.client.TcClient} begin / commit / rollback),
 * the RM registers branches and takes global locks at the TC, and phase 2 comes down the RM's own
 * command stream. A subclass brings the database (its tables, its statement shapes, its refusals, how
 * a table is read back) and its own cases. Every table has {@code account (id, owner, balance,
 * version)} with ids 1-4 and {@code undo_log}. After each test every global transaction has ended and
 * no lock is left.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AtModeSuite {

    HikariDataSource raw;
    DataSource ds;
    TcHarness tc;
    ResourceManager rm;
    final List<String> begun = new ArrayList<>();

    /** A fresh database with the RM's DDL and the suite's tables; its pool. Skips the class (an assumption) without a server. */
    abstract HikariDataSource createDatabase() throws Exception;

    /** Empties the tables (undo_log too) and writes the seed rows, outside the RM. */
    abstract void seed() throws SQLException;

    /** Every row of the suite's tables, in a form whose equality means the same stored values. */
    abstract Map<String, ?> snapshot() throws SQLException;

    /** The statement shapes: each changes something, through the RM's proxy connection. */
    abstract Stream<Named<GlobalWork.Work>> shapes();

    /** Statements the RM refuses, each with a piece of the reason it gives. */
    abstract Stream<Named<String[]>> unsupported();

    /** {@code identifier} quoted as this database quotes names. */
    abstract String quote(String identifier);

    /** The SQLState of a NOT NULL violation on this database. */
    abstract String notNullViolation();

    /** Runs {@code sql} outside the RM, autocommit. */
    abstract void exec(String sql) throws SQLException;

    /** How many of the database's sessions wait for a row lock now. */
    abstract long sessionsWaitingForARowLock() throws SQLException;

    @BeforeAll
    void start() throws Exception {
        raw = createDatabase();
        tc = TcHarness.start();
    }

    @AfterAll
    void stop() {
        if (tc != null) {
            tc.close();
        }
        if (raw != null) {
            raw.close();
        }
    }

    /** Each test's own TM client and RM; the TC and the database serve the class. */
    @BeforeEach
    void connectAndSeed() throws SQLException {
        rm = ResourceManager.builder(BranchCoordinator.of(tc.freshTm())).config(config()).build();
        ds = rm.wrap(raw);
        rm.connect(tc.tcConfig("rm-at-it"), 2);
        assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).as("RM stream welcomed by the TC").isTrue();
        seed();
    }

    /** Ends whatever a test left in BEGIN, and checks the invariants: every transaction ended, no lock left. */
    @AfterEach
    void everyGlobalTransactionEnds() {
        try {
            for (String xid : begun) {
                if (tc.status(xid) == GlobalStatus.BEGIN) {
                    tc.rollbackAndWait(xid);
                }
                assertThat(tc.awaitEnded(xid, Duration.ofSeconds(20)).getStatus())
                        .as("status of " + xid).isIn(GlobalStatus.COMMITTED.toWire(), GlobalStatus.ROLLBACKED.toWire(),
                                GlobalStatus.TIMEOUT_ROLLBACKED.toWire());
            }
            assertThat(tc.lockCount()).as("global locks left at the TC").isZero();
        } finally {
            begun.clear();
            if (rm != null) {
                rm.close();
                rm = null;
            }
        }
    }

    // ---- statement shapes ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void globalRollbackRestoresTheExactRows(GlobalWork.Work work) throws Exception {
        Map<String, ?> before = snapshot();
        String xid = runInGlobal(work, false);
        assertThat(snapshot()).as("the work changed something").isNotEqualTo(before);
        assertThat(tc.branchIds(xid)).isNotEmpty();
        assertThat(tc.lockCount()).isPositive();

        assertThat(tc.rollbackAndWait(xid)).as(tc.tm().status(xid).getReason()).isEqualTo(GlobalStatus.ROLLBACKED);

        assertThat(snapshot()).isEqualTo(before);
        assertThat(count("SELECT count(*) FROM undo_log WHERE log_status = 0")).isZero();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void globalCommitKeepsTheRowsAndDeletesTheUndoLog(GlobalWork.Work work) throws Exception {
        String xid = runInGlobal(work, false);
        Map<String, ?> after = snapshot();
        assertThat(tc.branchIds(xid)).isNotEmpty();

        assertThat(tc.commitAndWait(xid)).isEqualTo(GlobalStatus.COMMITTED);

        rm.flushUndoDeletes();
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
        assertThat(snapshot()).isEqualTo(after);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void autocommitMakesEachStatementItsOwnBranch(GlobalWork.Work work) throws Exception {
        Map<String, ?> before = snapshot();
        String xid = runInGlobal(work, true);
        assertThat(tc.rollbackAndWait(xid)).as(tc.tm().status(xid).getReason()).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);
        assertThat(count("SELECT count(*) FROM undo_log WHERE log_status = 0")).isZero();
    }

    @Test
    void undoLogsThatOutlivedTheirDeleteAreDeletedWhenCommittedOrLongForgottenAndARunningOneIsKept() throws Exception {
        useUndoLogRows();
        String committed = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 7 WHERE id = 1"), false);
        assertThat(tc.commitAndWait(committed)).isEqualTo(GlobalStatus.COMMITTED);
        rm.flushUndoDeletes();
        // Rows as a process killed before its queued deletes ran leaves them: one of a committed transaction,
        // one of a transaction the TC forgot long ago (written two days back, past the marker retention);
        // and one altered by hand, whose XID the TC refuses to look up.
        String forgotten = committed.substring(0, committed.lastIndexOf(':') + 1) + "987654321";
        try (Connection c = raw.getConnection(); PreparedStatement ps = c.prepareStatement(
                "INSERT INTO undo_log (xid, branch_id, rollback_info, log_status, created) VALUES (?, ?, ?, ?, ?)")) {
            for (String xid : List.of(committed, forgotten, "not-an-xid")) {
                ps.setString(1, xid);
                ps.setLong(2, 42);
                ps.setBytes(3, new byte[] {0});
                ps.setInt(4, RmInternals.TWO_PHASE);
                ps.setTimestamp(5, new java.sql.Timestamp(System.currentTimeMillis()
                        - (xid.equals(forgotten) ? Duration.ofDays(2).toMillis() : 0)));
                ps.executeUpdate();
            }
        }
        String running = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 8 WHERE id = 2"), false);

        assertThat(RmInternals.checkLeftoverUndoLogs(rm, ((io.cohort.rm.jdbc.DataSourceProxy) ds).resourceId()))
                .as("the check finished").isNotNull();
        assertThat(count("SELECT count(*) FROM undo_log WHERE xid = '" + committed + "'")).as("committed").isZero();
        assertThat(count("SELECT count(*) FROM undo_log WHERE xid = '" + forgotten + "'")).as("forgotten").isZero();
        assertThat(count("SELECT count(*) FROM undo_log WHERE xid = 'not-an-xid'")).as("refused by the TC").isEqualTo(1);
        exec("DELETE FROM undo_log WHERE xid = 'not-an-xid'");
        assertThat(count("SELECT count(*) FROM undo_log WHERE xid = '" + running + "'")).as("running").isEqualTo(1);
    }

    // ---- dirty writes, idempotence, empty rollback ----

    @Test
    void dirtyWriteStopsTheRollbackForAPersonAndTouchesNothing() throws Exception {
        String xid = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id IN (1, 2)"), false);
        exec("UPDATE account SET balance = 5 WHERE id = 2"); // outside the global transaction
        Map<String, ?> dirty = snapshot();

        tc.tm().rollback(xid);
        GlobalStatusResponse ended = tc.awaitEnded(xid, Duration.ofSeconds(20));

        assertThat(GlobalStatus.fromWire(ended.getStatus())).isEqualTo(GlobalStatus.ROLLBACK_FAILED);
        assertThat(ended.getReason()).contains("account pk 2").contains("balance=5.00 (expected 1.00)");
        assertThat(snapshot()).isEqualTo(dirty);
        assertThat(count("SELECT count(*) FROM undo_log")).as("no row: the TC holds the branch's images").isZero();
        assertThat(tc.lockCount()).as("locks stay held while the rollback waits for a person").isEqualTo(2);

        // A person retries without repairing: same answer, still untouched. The POST returns once the TC
        // moved the transaction to ROLLBACK_RETRYING, so the wait below sees the retry's outcome.
        tc.post("/api/v1/transactions/" + xid + "/rollback");
        assertThat(tc.awaitEnded(xid, Duration.ofSeconds(20)).getStatus()).isEqualTo(GlobalStatus.ROLLBACK_FAILED.toWire());
        assertThat(snapshot()).isEqualTo(dirty);

        // The person puts the after image back and retries: the rollback completes.
        exec("UPDATE account SET balance = 1 WHERE id = 2");
        tc.post("/api/v1/transactions/" + xid + "/rollback");
        assertThat(tc.awaitEnded(xid, Duration.ofSeconds(20)).getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND owner = 'ann' AND balance = 100.00 AND version = 0"))
                .isEqualTo(1);
        assertThat(count("SELECT count(*) FROM account WHERE id = 2 AND owner = 'bob' AND balance = 200.50 AND version = 0"))
                .isEqualTo(1);
    }

    @Test
    void rollbackOfRowsAlreadyBackToTheirBeforeImageIsNotDirty() throws Exception {
        String xid = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id = 1"), false);
        exec("UPDATE account SET balance = 100.00 WHERE id = 1");
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
    }

    @Test
    void aRepeatedRollbackCommandAnswersDone() throws Exception {
        List<byte[]> registered = recordApplicationData();
        Map<String, ?> before = snapshot();
        String xid = runInGlobal(c -> c.createStatement().executeUpdate("DELETE FROM account WHERE id = 1"), false);
        long branchId = tc.branchIds(xid).get(0);
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);

        // The same command delivered again (the TC repeats what it got no answer for), with the images
        // the TC holds for the branch: the rows are as the branch found them, nothing to undo.
        BranchCommand repeat = BranchCommand.newBuilder().setRequestId(1).setXid(xid).setBranchId(branchId)
                .setResourceId(resourceId()).setAction(BranchAction.ROLLBACK)
                .setApplicationData(ByteString.copyFrom(registered.get(0))).build();
        BranchResult again = RmInternals.handle(rm, repeat);
        assertThat(again.getStatus()).as(again.getReason()).isEqualTo(BranchStatus.PHASE2_ROLLBACKED.toWire());
        assertThat(snapshot()).isEqualTo(before);
        assertThat(count("SELECT count(*) FROM undo_log")).as("no undo-log row, no marker").isZero();
    }

    // ---- a two-phase branch's images held by the TC ----

    /** The TC holds a two-phase branch's undo log: no row is written for it, and rollback and commit work from the TC's copy. */
    @Test
    void aTwoPhaseBranchWritesNoUndoLogRowAndRollsBackFromTheImagesTheTcHolds() throws Exception {
        List<byte[]> registered = recordApplicationData();
        Map<String, ?> before = snapshot();
        String rolledBack = runInGlobal(c -> {
            c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id IN (1, 2)");
            c.createStatement().executeUpdate("UPDATE account SET balance = 2 WHERE id = 1");
            c.createStatement().executeUpdate("DELETE FROM account WHERE id = 3");
        }, false);
        assertThat(count("SELECT count(*) FROM undo_log")).as("undo-log rows after phase 1").isZero();
        assertThat(new String(registered.get(0), StandardCharsets.ISO_8859_1)).startsWith("cohort-undo/1\n");
        assertThat(tc.rollbackAndWait(rolledBack)).as(tc.tm().status(rolledBack).getReason())
                .isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);

        String committed = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 3 WHERE id = 4"),
                false);
        Map<String, ?> after = snapshot();
        assertThat(tc.commitAndWait(committed)).isEqualTo(GlobalStatus.COMMITTED);
        rm.flushUndoDeletes();
        assertThat(snapshot()).isEqualTo(after);
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
    }

    /**
     * A branch registered at the TC whose local commit never happened (the registration's answer was
     * lost on the way back): the rollback finds every row as the branch found it and undoes nothing.
     */
    @Test
    void aBranchWhoseLocalCommitNeverHappenedRollsBackAsNothingToUndo() throws Exception {
        List<Long> registered = new CopyOnWriteArrayList<>();
        aroundRegistrations((applicationData, register) -> {
            registered.add(register.get().getBranchId());
            throw new IllegalStateException("answer lost on the way back");
        });
        Map<String, ?> before = snapshot();
        String xid = begin();
        assertThatThrownBy(() -> runInGlobal(xid, c -> {
            c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id = 1");
            c.createStatement().executeUpdate("UPDATE account SET balance = 2 WHERE id = 1");
            c.createStatement().executeUpdate("DELETE FROM account WHERE id = 2");
        }, false)).hasMessageContaining("answer lost");
        assertThat(registered).hasSize(1).allSatisfy(id -> assertThat(id).isPositive());

        // The RM made the global transaction rollback-only, on which the TC rolls it back at once.
        GlobalStatusResponse ended = tc.awaitEnded(xid, Duration.ofSeconds(20));
        assertThat(ended.getStatus()).as(ended.getReason()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(snapshot()).isEqualTo(before);
        assertThat(count("SELECT count(*) FROM undo_log")).as("no undo-log row, no marker").isZero();
    }

    /** An update, a delete and an insert: each the whole work of a branch whose local commit a test holds. */
    Stream<Named<String>> heldCommits() {
        return Stream.of(Named.of("update", "UPDATE account SET balance = 7 WHERE id = 1"),
                Named.of("delete", "DELETE FROM account WHERE id = 2"),
                Named.of("insert", "INSERT INTO account (id, owner, balance, version) VALUES (9, 'zed', 1.00, 0)"));
    }

    /**
     * The TM rolls back while a branch's local commit is still to come (registered at the TC, its
     * local transaction open, its rows locked). The rollback must wait for that commit and undo it, or
     * make it fail: the rows end as before either way. With the images at the TC, the rollback's
     * locking read waits for the rows (the test lets the commit go once the database shows a session
     * waiting for a row lock); with an undo-log row, the rollback's marker makes the late insert fail.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("heldCommits")
    void aRollbackThatArrivesBeforeTheLocalCommitEndsWithTheRowsAsBefore(String statement) throws Exception {
        rollBackWhileTheLocalCommitIsHeld(begin(), statement);
    }

    /**
     * As above for a three-phase branch: the TC holds its images too (the RM learns the protocol
     * from the registration's answer), but its local commit writes an undo-log row, which the
     * rollback must find once the commit it waited for has ended, and roll back from.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("heldCommits")
    void aRollbackThatArrivesBeforeAThreePhaseLocalCommitEndsWithTheRowsAsBefore(String statement) throws Exception {
        String xid = tc.tm().begin("held-3pc", Duration.ofSeconds(60), TransactionProtocol.THREE_PHASE);
        begun.add(xid);
        rollBackWhileTheLocalCommitIsHeld(xid, statement);
    }

    private void rollBackWhileTheLocalCommitIsHeld(String xid, String statement) throws Exception {
        Map<String, ?> before = snapshot();
        CompletableFuture<GlobalStatus> rollback = new CompletableFuture<>();
        aroundRegistrations((applicationData, register) -> {
            RegisterBranchResponse answer = register.get();
            CompletableFuture.runAsync(() -> rollback.complete(tc.rollbackAndWait(xid)));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            try {
                while (!rollback.isDone() && sessionsWaitingForARowLock() == 0) {
                    assertThat(System.nanoTime()).as("the rollback waits for the rows or ends").isLessThan(deadline);
                    Thread.sleep(5);
                }
            } catch (SQLException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return answer;
        });
        try {
            runInGlobal(xid, c -> c.createStatement().executeUpdate(statement), false);
        } catch (SQLException e) {
            assertThat(e.getMessage()).contains("already rolled back");
        }
        assertThat(rollback.get(60, TimeUnit.SECONDS)).as(tc.tm().status(xid).getReason())
                .isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);
        assertThat(count("SELECT count(*) FROM undo_log WHERE log_status <> 1")).isZero();
    }

    /** No branch for a statement that changes nothing, and the empty global transaction rolls back leaving nothing. */
    @Test
    void aStatementThatChangesNothingRegistersNoBranch() throws Exception {
        String xid = runInGlobal(c -> assertThat(c.createStatement()
                .executeUpdate("UPDATE account SET balance = 1 WHERE id = -1")).isZero(), false);
        assertThat(tc.branchIds(xid)).isEmpty();
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
    }

    @Test
    void localRollbackRegistersNothing() throws Exception {
        String xid = begin();
        XidContext.runWith(xid, () -> {
            try (Connection c = ds.getConnection()) {
                c.setAutoCommit(false);
                c.createStatement().executeUpdate("UPDATE account SET balance = 0 WHERE id = 1");
                c.rollback();
            } catch (SQLException e) {
                throw new RuntimeException(e);
            }
            return null;
        });
        assertThat(tc.branchIds(xid)).isEmpty();
        assertThat(tc.lockCount()).isZero();
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
    }

    @Test
    void outsideAGlobalTransactionNothingIsRecorded() throws Exception {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.executeUpdate("UPDATE account SET balance = 0 WHERE id = 1");
            s.execute("CREATE TABLE scratch (x int)");
        }
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
        assertThat(tc.lockCount()).isZero();
    }

    // ---- unsupported statements ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("unsupported")
    void unsupportedStatementsFailBeforeTheyRun(String[] statementAndReason) throws Exception {
        Map<String, ?> before = snapshot();
        String xid = begin();
        assertThatThrownBy(() -> runInGlobal(xid, c -> c.createStatement().execute(statementAndReason[0]), false))
                .isInstanceOf(UnsupportedStatementException.class)
                .hasMessageContaining(statementAndReason[1])
                .hasMessageContaining(statementAndReason[0])
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("0A000"));
        assertThat(snapshot()).isEqualTo(before);
        assertThat(tc.branchIds(xid)).isEmpty();
    }

    // ---- global locks ----

    @Test
    void aSecondGlobalTransactionOnTheSameRowFailsNamingTheHolder() throws Exception {
        String holder = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id = 1"), false);
        String xid = begin();
        assertThatThrownBy(() -> runInGlobal(xid, c -> c.createStatement()
                .executeUpdate("UPDATE account SET balance = 2 WHERE id = 1"), false))
                .isInstanceOf(GlobalLockConflictException.class)
                .hasMessageContaining("account:1").hasMessageContaining(holder).hasMessageContaining("held for");
        assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND balance = 1")).isEqualTo(1);
        assertThat(tc.branchIds(xid)).isEmpty();
        // Its undo log (sent while the registration was in flight, where the dialect does so) went with the local rollback.
        assertThat(count("SELECT count(*) FROM undo_log WHERE xid = '" + xid + "'")).isZero();
        // A branch that could not register dooms its global transaction at the TC: it must not commit without it.
        GlobalStatusResponse doomed = tc.awaitEnded(xid, Duration.ofSeconds(20));
        assertThat(doomed.getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(doomed.getReason()).contains("rollback-only").contains(resourceId()).contains(holder);

        assertThat(tc.commitAndWait(holder)).isEqualTo(GlobalStatus.COMMITTED);
        String retry = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 2 WHERE id = 1"), false);
        assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND balance = 2")).isEqualTo(1);
        assertThat(tc.rollbackAndWait(retry)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND balance = 1")).isEqualTo(1);
    }

    /** The holder rolls back instead: the row is back to its value before either. */
    @Test
    void aRolledBackHolderLeavesTheRowAsBefore() throws Exception {
        String holder = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id = 1"), false);
        String xid = begin();
        assertThatThrownBy(() -> runInGlobal(xid, c -> c.createStatement()
                .executeUpdate("UPDATE account SET balance = 2 WHERE id = 1"), false))
                .isInstanceOf(GlobalLockConflictException.class).hasMessageContaining(holder);
        assertThat(tc.rollbackAndWait(holder)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND balance = 100")).isEqualTo(1);
    }

    @Test
    void aStatementTheRmStartedThatFailsDoomsItsGlobalTransaction() throws Exception {
        String xid = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 7 WHERE id = 1"), false);
        assertThatThrownBy(() -> runInGlobal(xid, c -> c.createStatement()
                .executeUpdate("UPDATE account SET owner = NULL WHERE id = 2"), false))
                .isInstanceOf(SQLException.class)
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo(notNullViolation()));
        GlobalStatusResponse doomed = tc.awaitEnded(xid, Duration.ofSeconds(20));
        assertThat(doomed.getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(doomed.getReason()).contains("rollback-only")
                .contains("a statement failed (SQLState " + notNullViolation() + ")");
        assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND balance = 100.00")).isEqualTo(1);
    }

    @Test
    void selectForUpdateChecksGlobalLocks() throws Exception {
        String holder = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id = 2"), false);
        assertThatThrownBy(() -> runInGlobal(c -> c.createStatement()
                .executeQuery("SELECT * FROM " + quote("account") + " WHERE id BETWEEN 1 AND 3 FOR UPDATE"), false))
                .isInstanceOf(GlobalLockConflictException.class).hasMessageContaining(holder);
        assertThat(tc.commitAndWait(holder)).isEqualTo(GlobalStatus.COMMITTED);
    }

    @Test
    void globalLockContextKeepsLocalTransactionsOffRowsAGlobalOneHolds() throws Exception {
        String holder = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id = 3"), false);
        GlobalWork.Work local = c -> {
            c.setAutoCommit(false);
            c.createStatement().executeUpdate("UPDATE account SET balance = 7 WHERE id = 3");
            c.commit();
        };
        assertThatThrownBy(() -> GlobalLockContext.call(() -> {
            try (Connection c = ds.getConnection()) {
                local.run(c);
            }
            return null;
        })).isInstanceOf(GlobalLockConflictException.class).hasMessageContaining(holder);
        assertThat(count("SELECT count(*) FROM account WHERE id = 3 AND balance = 1")).isEqualTo(1);
        assertThat(tc.commitAndWait(holder)).isEqualTo(GlobalStatus.COMMITTED);
        GlobalLockContext.call(() -> {
            try (Connection c = ds.getConnection()) {
                local.run(c);
            }
            return null;
        });
        assertThat(count("SELECT count(*) FROM account WHERE id = 3 AND balance = 7")).isEqualTo(1);
        rm.flushUndoDeletes();
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
    }

    // ---- branch ids chosen by the RM (protocol minor 7) ----

    /** The RM chooses the branch id, so its undo log can be written under it before the TC answers. */
    @Test
    void aBranchIsRegisteredUnderTheIdItsRmChose() throws Exception {
        useUndoLogRows();
        List<long[]> chosenAndAnswered = new CopyOnWriteArrayList<>();
        useCoordinator(real -> new ForwardingBranchCoordinator(real) {
            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         long branchId) {
                RegisterBranchResponse answer = super.registerBranch(xid, resourceId, lockKeys, applicationData,
                        clientId, lockWaitMs, branchId);
                chosenAndAnswered.add(new long[] {branchId, answer.getBranchId()});
                return answer;
            }
        });
        Map<String, ?> before = snapshot();
        String xid = runInGlobal(c -> {
            c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id = 1");
            c.createStatement().executeUpdate("UPDATE account SET balance = 2 WHERE id = 2");
        }, true);

        assertThat(chosenAndAnswered).hasSize(2).allSatisfy(ids -> assertThat(ids[1]).isPositive().isEqualTo(ids[0]));
        assertThat(tc.branchIds(xid)).containsExactly(chosenAndAnswered.get(0)[0], chosenAndAnswered.get(1)[0]);
        assertThat(undoBranches(xid)).containsExactly(chosenAndAnswered.get(0)[0], chosenAndAnswered.get(1)[0]);
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
    }

    /**
     * A TC older than protocol minor 7 ignores the id the RM chose and assigns its own: the undo log
     * must carry the TC's id (on PostgreSQL it is inserted after the answer, under that id; on MariaDB,
     * inserted while the registration was in flight, it is re-keyed), so commit and rollback find it.
     */
    @Test
    void aTcThatAssignsItsOwnBranchIdGetsTheUndoLogReKeyed() throws Exception {
        useUndoLogRows();
        useCoordinator(real -> new ForwardingBranchCoordinator(real) {
            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         long branchId) {
                return super.registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs, 0);
            }
        });
        Map<String, ?> before = snapshot();
        String rolledBack = runInGlobal(c -> c.createStatement()
                .executeUpdate("UPDATE account SET balance = 5 WHERE id = 1"), true);
        assertThat(undoBranches(rolledBack)).isEqualTo(tc.branchIds(rolledBack)).hasSize(1);
        assertThat(tc.rollbackAndWait(rolledBack)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);

        String committed = runInGlobal(c -> c.createStatement()
                .executeUpdate("UPDATE account SET balance = 6 WHERE id = 1"), false);
        assertThat(undoBranches(committed)).isEqualTo(tc.branchIds(committed)).hasSize(1);
        assertThat(tc.commitAndWait(committed)).isEqualTo(GlobalStatus.COMMITTED);
        rm.flushUndoDeletes();
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
        assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND balance = 6")).isEqualTo(1);
    }

    /** A registration the TC refuses because the global transaction is already rolled back leaves nothing. */
    @Test
    void aBranchOfARolledBackGlobalTransactionLeavesNoUndoLogAndNoChange() throws Exception {
        Map<String, ?> before = snapshot();
        String xid = begin();
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThatThrownBy(() -> runInGlobal(xid, c -> c.createStatement()
                .executeUpdate("UPDATE account SET balance = 9 WHERE id = 3"), false))
                .isInstanceOf(SQLException.class).hasMessageContaining(xid);
        assertThat(snapshot()).isEqualTo(before);
        assertThat(count("SELECT count(*) FROM undo_log")).isZero();
    }

    // ---- helpers ----

    String resourceId() {
        return rm.resourceIds().get(0);
    }

    /** Begins a global transaction at the TC; the test's clean-up makes sure it ends. */
    String begin() {
        String xid = tc.begin(Duration.ofSeconds(60));
        begun.add(xid);
        return xid;
    }

    String runInGlobal(GlobalWork.Work work, boolean autoCommit) throws Exception {
        String xid = begin();
        runInGlobal(xid, work, autoCommit);
        return xid;
    }

    void runInGlobal(String xid, GlobalWork.Work work, boolean autoCommit) throws Exception {
        GlobalWork.run(ds, xid, work, autoCommit);
    }

    /** What a test does around each registration of its RM: given the branch's application data and the real call. */
    @FunctionalInterface
    interface AroundRegistration {
        RegisterBranchResponse around(byte[] applicationData, Supplier<RegisterBranchResponse> register);
    }

    /** Replaces this test's RM by one whose registrations (under the id the RM chose) go through {@code around}. */
    void aroundRegistrations(AroundRegistration around) {
        useCoordinator(real -> new ForwardingBranchCoordinator(real) {
            @Override
            public RegisterBranchResponse registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         long branchId) {
                return around.around(applicationData, () -> super.registerBranch(xid, resourceId, lockKeys,
                        applicationData, clientId, lockWaitMs, branchId));
            }
        });
    }

    /** Replaces this test's RM by one that records the application data of each branch it registers, in order. */
    List<byte[]> recordApplicationData() {
        List<byte[]> recorded = new CopyOnWriteArrayList<>();
        aroundRegistrations((applicationData, register) -> {
            recorded.add(applicationData);
            return register.get();
        });
        return recorded;
    }

    /** Replaces this test's RM by one whose calls to the TC go through {@code around}, its settings kept. */
    void useCoordinator(UnaryOperator<BranchCoordinator> around) {
        replaceRm(around.apply(BranchCoordinator.of(tc.freshTm())), rm.config());
    }

    /** Replaces this test's RM by one that writes every undo log as a row (the TC holds no images). */
    void useUndoLogRows() {
        replaceRm(BranchCoordinator.of(tc.freshTm()), config().withImagesAtTc(false));
    }

    /** Replaces this test's RM by one that writes its undo logs in {@code format}. */
    void useUndoLogFormat(UndoLogFormat format) {
        replaceRm(BranchCoordinator.of(tc.freshTm()), config().withUndoLogFormat(format));
    }

    private static RmConfig config() {
        return RmConfig.defaults().withLockRetry(Duration.ofMillis(2), 3).withCompressThreshold(512);
    }

    private void replaceRm(BranchCoordinator coordinator, RmConfig config) {
        rm.close();
        rm = ResourceManager.builder(coordinator).config(config).build();
        ds = rm.wrap(raw);
        rm.connect(tc.tcConfig("rm-at-it"), 2);
        assertThat(rm.awaitConnected(TcHarness.CONNECT_WAIT)).as("RM stream welcomed by the TC").isTrue();
    }

    /** The branch ids of {@code xid}'s undo-log rows, in the order they were written. */
    List<Long> undoBranches(String xid) throws SQLException {
        List<Long> out = new ArrayList<>();
        try (Connection c = raw.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT branch_id FROM undo_log WHERE xid = ? ORDER BY created, branch_id")) {
            ps.setString(1, xid);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getLong(1));
                }
            }
        }
        return out;
    }

    /** The one number {@code sql} selects, read outside the RM. */
    long count(String sql) throws SQLException {
        try (Connection c = raw.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
