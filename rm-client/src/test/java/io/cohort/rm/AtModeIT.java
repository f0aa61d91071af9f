package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.BranchAction;
import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.BranchResult;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import io.cohort.testsupport.TestPostgres;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link AtModeSuite} on real PostgreSQL: every supported statement shape and column type (arrays,
 * JSON, schema-qualified tables, RETURNING), and what only PostgreSQL's suite checks: undo logs
 * altered in the database, a rollback that overtakes phase 1, lock keys that need escaping.
 */
class AtModeIT extends AtModeSuite {

    private static final String[] TABLES = {"account", "all_types", "ledger.entry", "other"};
    private static final String[] ORDER = {"id", "id", "book, line", "id"};

    @Override
    HikariDataSource createDatabase() throws Exception {
        HikariDataSource raw = TestPostgres.get().dataSource(PgFixture.createDatabase("rm_at"), 8);
        PgFixture.applyUndoLogDdl(raw);
        PgFixture.exec(raw, """
                CREATE TABLE account (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL,
                                      version int NOT NULL DEFAULT 0);
                CREATE TABLE all_types (id serial PRIMARY KEY, c_small smallint, c_int int, c_big bigint,
                    c_num numeric(20,6), c_text text, c_varchar varchar(40), c_bool boolean, c_date date, c_time time,
                    c_ts timestamp, c_tstz timestamptz, c_bytes bytea, c_uuid uuid, c_json json, c_jsonb jsonb,
                    c_ints int[], c_texts text[], c_real real, c_double double precision);
                CREATE SCHEMA ledger;
                CREATE TABLE ledger.entry (book text, line int, amount numeric(10,2), note text, PRIMARY KEY (book, line));
                CREATE TABLE other (id int PRIMARY KEY, v int);
                CREATE TABLE nopk (a int, b int);
                """);
        // Test-only: a phase 1 that opts in (SET LOCAL cohort_test.slow_undo = on) is held just before its
        // undo-log row is inserted until a rollback of its branch has left its marker (each look a new
        // snapshot), so the rollback overtakes it however slow the machine; after 2 minutes without a
        // marker it goes on, and the test fails on what follows.
        PgFixture.exec(raw, """
                CREATE FUNCTION slow_undo_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                DECLARE
                  give_up timestamptz := clock_timestamp() + interval '2 minutes';
                BEGIN
                  IF NEW.log_status = 0 AND current_setting('cohort_test.slow_undo', true) = 'on' THEN
                    WHILE NOT EXISTS (SELECT 1 FROM undo_log u WHERE u.xid = NEW.xid AND u.branch_id = NEW.branch_id
                                      AND u.log_status = 1) AND clock_timestamp() < give_up LOOP
                      PERFORM pg_sleep(0.05);
                    END LOOP;
                  END IF;
                  RETURN NEW;
                END $$;
                CREATE TRIGGER slow_undo BEFORE INSERT ON undo_log FOR EACH ROW EXECUTE FUNCTION slow_undo_insert();
                """);
        return raw;
    }

    @Override
    void seed() throws SQLException {
        exec("""
                TRUNCATE account, all_types, ledger.entry, other, nopk, undo_log RESTART IDENTITY;
                INSERT INTO account VALUES (1, 'ann', 100.00, 0), (2, 'bob', 200.50, 0), (3, 'cy', 0.00, 0),
                                           (4, 'di', 42.42, 0);
                INSERT INTO other VALUES (1, 10), (2, 20), (3, 30);
                INSERT INTO ledger.entry VALUES ('a', 1, 1.00, 'x'), ('a', 2, 2.00, NULL), ('b', 1, 3.00, 'y');
                INSERT INTO all_types (c_small, c_int, c_big, c_num, c_text, c_varchar, c_bool, c_date, c_time, c_ts,
                    c_tstz, c_bytes, c_uuid, c_json, c_jsonb, c_ints, c_texts, c_real, c_double) VALUES
                  (1, 2, 3, 1.500000, 'text ''quoted'' ü', 'vc', true, '2024-02-29', '13:14:15.123456',
                   '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.123456+05:30', '\\x00ff10', 
                   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1,  "a": [1, 2]}', '{"b": 1, "a": [1, 2]}',
                   '{1,2,NULL}', '{"a,b","c\\"d",NULL}', 1.25, 3.141592653589793),
                  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, NULL, NULL);
                INSERT INTO nopk VALUES (1, 1);
                """);
    }

    // ---- statement shapes ----

    @Override
    Stream<Named<GlobalWork.Work>> shapes() {
        Map<String, GlobalWork.Work> m = new LinkedHashMap<>();
        m.put("insert one row with parameters", c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO account (id, owner, balance) VALUES (?, ?, ?)")) {
                ps.setLong(1, 10);
                ps.setString(2, "eve");
                ps.setBigDecimal(3, new BigDecimal("5.55"));
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
        });
        m.put("insert several rows as literals", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("INSERT INTO account VALUES (11, 'f', 1, 0), (12, 'g', 2, 0); ")).isEqualTo(2);
            }
        });
        m.put("insert with generated keys", c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO all_types (c_text) VALUES (?)",
                    Statement.RETURN_GENERATED_KEYS)) {
                ps.setString(1, "generated");
                assertThat(ps.executeUpdate()).isEqualTo(1);
                try (ResultSet keys = ps.getGeneratedKeys()) {
                    assertThat(keys.next()).isTrue();
                    assertThat(keys.getInt("id")).isEqualTo(3);
                }
            }
        });
        m.put("insert with its own RETURNING", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO ledger.entry (book, line, amount) VALUES (?, 1, 9), (?, 2, 8) RETURNING line")) {
                ps.setString(1, "z");
                ps.setString(2, "z");
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.getInt(1)).isEqualTo(1);
                    assertThat(rs.next()).isTrue();
                    assertThat(rs.next()).isFalse();
                }
            }
        });
        m.put("insert from a select", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "INSERT INTO account (id, owner, balance) SELECT id + 100, 'o' || v, v FROM other WHERE v > ?")) {
                ps.setInt(1, 15);
                assertThat(ps.executeUpdate()).isEqualTo(2);
            }
        });
        m.put("update by primary key with an expression", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE account SET balance = balance - ?, version = version + 1 WHERE id = ?")) {
                ps.setBigDecimal(1, new BigDecimal("30.00"));
                ps.setLong(2, 1);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
        });
        m.put("update with IN and a cast", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE account a SET owner = ?::text || a.owner WHERE a.id IN (?, ?, ?)")) {
                ps.setString(1, "mr ");
                ps.setLong(2, 1);
                ps.setLong(3, 2);
                ps.setLong(4, 99);
                assertThat(ps.executeUpdate()).isEqualTo(2);
            }
        });
        m.put("update a range", c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE account SET balance = 0 WHERE balance BETWEEN ? AND ?")) {
                ps.setInt(1, 40);
                ps.setInt(2, 150);
                assertThat(ps.executeUpdate()).isEqualTo(2);
            }
        });
        m.put("update with a sub-select in WHERE", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE account SET balance = balance * 2 WHERE id IN (SELECT id FROM other WHERE v >= ?)")) {
                ps.setInt(1, 20);
                assertThat(ps.executeUpdate()).isEqualTo(2);
            }
        });
        m.put("update a schema-qualified table with alias and composite key", c -> {
            try (PreparedStatement ps = c.prepareStatement(
                    "UPDATE ledger.entry e SET amount = e.amount + ?, note = ? WHERE e.book = ? AND e.line >= ?")) {
                ps.setBigDecimal(1, BigDecimal.TEN);
                ps.setString(2, "changed");
                ps.setString(3, "a");
                ps.setInt(4, 1);
                assertThat(ps.executeUpdate()).isEqualTo(2);
            }
        });
        m.put("update with its own RETURNING", c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE account SET balance = balance + 1 WHERE id <= ? RETURNING id, balance")) {
                ps.setLong(1, 2);
                assertThat(ps.execute()).isTrue();
                try (ResultSet rs = ps.getResultSet()) {
                    int n = 0;
                    while (rs.next()) {
                        n++;
                    }
                    assertThat(n).isEqualTo(2);
                }
            }
        });
        m.put("update every column type", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("""
                        UPDATE all_types SET c_small = 7, c_int = -8, c_big = 9000000000, c_num = 2.000001,
                          c_text = 'new', c_varchar = NULL, c_bool = NOT coalesce(c_bool, false), c_date = '1999-12-31',
                          c_time = '00:00:01', c_ts = '2000-01-01 00:00:00', c_tstz = '2000-01-01 00:00:00Z',
                          c_bytes = '\\x01'::bytea, c_uuid = gen_random_uuid(), c_json = '[1]', c_jsonb = '{"z": null}',
                          c_ints = '{}', c_texts = ARRAY['q'], c_real = 0.5, c_double = -0.0""")).isEqualTo(2);
            }
        });
        m.put("delete a range", c -> {
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM account WHERE id > ?")) {
                ps.setLong(1, 2);
                assertThat(ps.executeUpdate()).isEqualTo(2);
            }
        });
        m.put("delete with a sub-select and composite key", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("DELETE FROM ledger.entry WHERE book IN (SELECT 'a') AND line = 2")).isEqualTo(1);
            }
        });
        m.put("delete every column type", c -> {
            try (Statement s = c.createStatement()) {
                assertThat(s.executeUpdate("DELETE FROM all_types")).isEqualTo(2);
            }
        });
        m.put("delete with its own RETURNING", c -> {
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("DELETE FROM other WHERE id = 1 RETURNING v")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getInt(1)).isEqualTo(10);
            }
        });
        m.put("batch of updates and inserts", c -> {
            try (PreparedStatement ps = c.prepareStatement("UPDATE account SET balance = balance + ? WHERE id = ?")) {
                for (int i = 1; i <= 3; i++) {
                    ps.setInt(1, i);
                    ps.setLong(2, i);
                    ps.addBatch();
                }
                assertThat(ps.executeBatch()).containsExactly(1, 1, 1);
            }
            try (Statement s = c.createStatement()) {
                s.addBatch("INSERT INTO other VALUES (4, 40)");
                s.addBatch("DELETE FROM other WHERE id = 2");
                assertThat(s.executeBatch()).containsExactly(1, 1);
            }
        });
        m.put("the same row changed by several statements", c -> {
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE account SET balance = 1 WHERE id = 1");
                s.executeUpdate("UPDATE account SET balance = 2, owner = 'x' WHERE id = 1");
                s.executeUpdate("DELETE FROM account WHERE id = 1");
                s.executeUpdate("INSERT INTO account VALUES (1, 'reborn', 3, 9)");
            }
        });
        m.put("select for update then update", c -> {
            try (PreparedStatement ps = c.prepareStatement("SELECT balance FROM account WHERE id = ? FOR UPDATE")) {
                ps.setLong(1, 4);
                try (ResultSet rs = ps.executeQuery()) {
                    assertThat(rs.next()).isTrue();
                }
            }
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE account SET balance = 0 WHERE id = 4");
            }
        });
        return m.entrySet().stream().map(e -> Named.of(e.getKey(), e.getValue()));
    }

    // ---- dirty writes, idempotence, empty rollback ----

    /**
     * The image-taking UPDATE waits on a row a local transaction holds: it must take the before image
     * from the row as that transaction committed it (not as the statement's snapshot saw it) and
     * recheck its WHERE against it, so a global rollback restores what the local writer wrote, and a
     * row the writer moved out of the WHERE is neither changed nor in the undo log.
     */
    @Test
    void anUpdateThatWaitedForALocalWriterTakesItsImagesFromTheRowAsCommitted() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (Connection local = raw.getConnection()) {
            local.setAutoCommit(false);
            try (Statement s = local.createStatement()) {
                s.executeUpdate("UPDATE account SET balance = 777, version = 5 WHERE id = 1");
                s.executeUpdate("UPDATE account SET version = 9 WHERE id = 2");
            }
            String xid = begin();
            Future<?> global = pool.submit(() -> {
                runInGlobal(xid, c -> c.createStatement()
                        .executeUpdate("UPDATE account SET balance = balance + 1 WHERE id IN (1, 2) AND version <> 9"), true);
                return null;
            });
            // Deadline: the RM's statement reaches the server within its connection's setup; 30 s is far beyond.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    + " AND wait_event_type = 'Lock' AND query LIKE '%cohort_before%'") == 0) {
                assertThat(global.isDone()).as("the global UPDATE waits for the local writer's row lock").isFalse();
                assertThat(System.nanoTime()).as("the global UPDATE blocked on the row lock within 30 s").isLessThan(deadline);
                Thread.onSpinWait();
            }
            local.commit();
            global.get(30, TimeUnit.SECONDS);
            assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND balance = 778 AND version = 5")).isEqualTo(1);
            assertThat(count("SELECT count(*) FROM account WHERE id = 2 AND balance = 200.50 AND version = 9")).isEqualTo(1);

            assertThat(tc.rollbackAndWait(xid)).as(tc.tm().status(xid).getReason()).isEqualTo(GlobalStatus.ROLLBACKED);
            assertThat(count("SELECT count(*) FROM account WHERE id = 1 AND balance = 777 AND version = 5")).isEqualTo(1);
            assertThat(count("SELECT count(*) FROM account WHERE id = 2 AND balance = 200.50 AND version = 9")).isEqualTo(1);
            assertThat(count("SELECT count(*) FROM undo_log WHERE log_status = 0")).isZero();
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void anUndoLogThatCannotBeAppliedFailsOnlyItsOwnBranchAndTheRestOfTheBatchIsAnswered() throws Exception {
        useUndoLogRows();
        Map<String, List<List<String>>> before = snapshot();
        String[] xids = {
                runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 1 WHERE id = 1"), false),
                runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET balance = 2 WHERE id = 2"), false),
                runInGlobal(c -> c.createStatement().executeUpdate("UPDATE other SET v = 3 WHERE id = 3"), false)};
        long[] branches = {undoBranches(xids[0]).get(0), undoBranches(xids[1]).get(0), undoBranches(xids[2]).get(0)};
        // The second: its before image no longer matches the after image's key (a runtime exception in the
        // RM); the third: a value the database cannot parse (a data exception).
        byte[] original1 = alterUndo(xids[1], branches[1], info -> RmInternals.withBeforeValue(info, "id", "999"));
        byte[] original2 = alterUndo(xids[2], branches[2],
                info -> RmInternals.withBeforeValue(info, "v", "not-a-number"));

        // One batch of rollbacks, as one message from the TC brings it.
        List<BranchCommand> batch = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            batch.add(BranchCommand.newBuilder().setRequestId(i).setXid(xids[i]).setBranchId(branches[i])
                    .setResourceId(resourceId()).setAction(BranchAction.ROLLBACK).build());
        }
        List<BranchResult> results = RmInternals.handle(rm, batch);

        assertThat(results).extracting(BranchResult::getStatus).containsExactly(
                BranchStatus.PHASE2_ROLLBACKED.toWire(), BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE.toWire(),
                BranchStatus.PHASE2_ROLLBACK_FAILED_UNRETRYABLE.toWire());
        assertThat(results.get(1).getReason()).contains("branch " + branches[1]).contains("cannot be applied");
        assertThat(results.get(2).getReason()).contains("branch " + branches[2]).contains("cannot be applied")
                .contains("not-a-number");
        // The intact branch was rolled back; the damaged ones are untouched.
        assertThat(PgFixture.rows(raw, "account WHERE id IN (1, 2)", "id"))
                .containsExactly(List.of("id=1", "owner=ann", "balance=100.00", "version=0"),
                        List.of("id=2", "owner=bob", "balance=2.00", "version=0"));
        assertThat(PgFixture.rows(raw, "other WHERE id = 3", "id")).containsExactly(List.of("id=3", "v=3"));

        // Through the TC: the damaged branch's transaction waits for a person, with the reason.
        tc.tm().rollback(xids[1]);
        GlobalStatusResponse ended = tc.awaitEnded(xids[1], Duration.ofSeconds(20));
        assertThat(GlobalStatus.fromWire(ended.getStatus())).isEqualTo(GlobalStatus.ROLLBACK_FAILED);
        assertThat(ended.getReason()).contains("cannot be applied");

        // A person repairs the rows and retries: the rollbacks complete.
        setUndo(xids[1], branches[1], original1);
        setUndo(xids[2], branches[2], original2);
        tc.post("/api/v1/transactions/" + xids[1] + "/rollback");
        assertThat(tc.awaitEnded(xids[1], Duration.ofSeconds(20)).getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(tc.rollbackAndWait(xids[0])).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(tc.rollbackAndWait(xids[2])).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);
    }

    @Test
    void anUndoLogNamingATableTheBranchDidNotWriteIsRefused() throws Exception {
        useUndoLogRows();
        PgFixture.exec(raw, """
                CREATE TABLE IF NOT EXISTS shadow (id int PRIMARY KEY, v int);
                TRUNCATE shadow;
                INSERT INTO shadow VALUES (1, 99);
                """);
        String xid = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE other SET v = 99 WHERE id = 1"), false);
        long branch = undoBranches(xid).get(0);
        // Altered in the database: same shape, another table whose row matches the after image.
        byte[] original = alterUndo(xid, branch, info -> RmInternals.withTable(info, "shadow"));

        tc.tm().rollback(xid);
        GlobalStatusResponse ended = tc.awaitEnded(xid, Duration.ofSeconds(20));

        assertThat(GlobalStatus.fromWire(ended.getStatus())).isEqualTo(GlobalStatus.ROLLBACK_FAILED);
        assertThat(ended.getReason()).contains("names table 'shadow'").contains("did not write (it wrote other");
        assertThat(PgFixture.rows(raw, "shadow", "id")).containsExactly(List.of("id=1", "v=99"));
        assertThat(PgFixture.rows(raw, "other WHERE id = 1", "id")).containsExactly(List.of("id=1", "v=99"));

        setUndo(xid, branch, original);
        tc.post("/api/v1/transactions/" + xid + "/rollback");
        assertThat(tc.awaitEnded(xid, Duration.ofSeconds(20)).getStatus()).isEqualTo(GlobalStatus.ROLLBACKED.toWire());
        assertThat(PgFixture.rows(raw, "other WHERE id = 1", "id")).containsExactly(List.of("id=1", "v=10"));
        assertThat(PgFixture.rows(raw, "shadow", "id")).containsExactly(List.of("id=1", "v=99"));
    }

    @Test
    void aRollbackThatOvertakesPhaseOneLeavesAMarkerThatStopsIt() throws Exception {
        useUndoLogRows();
        Map<String, List<List<String>>> before = snapshot();
        // Long enough for phase 1 to register its branch in time on a busy machine (the timeout counts
        // from the begin; 1 s was missed with two CPU hogs beside the test JVM), as the trigger holds
        // phase 1 until the rollback came, however late.
        String xid = tc.begin(Duration.ofSeconds(10));
        begun.add(xid);

        // Phase 1 registers its branch in time, then stalls before its undo log is written; meanwhile the
        // TC times the global transaction out and rolls the branch back: no undo log yet, so a marker.
        assertThatThrownBy(() -> runInGlobal(xid, c -> {
            try (Statement s = c.createStatement()) {
                s.execute("SELECT set_config('cohort_test.slow_undo', 'on', true)");
                s.executeUpdate("UPDATE account SET balance = 0 WHERE id = 1");
            }
        }, false)).isInstanceOf(SQLException.class).hasMessageContaining("already rolled back");

        assertThat(tc.awaitEnded(xid, Duration.ofSeconds(30)).getStatus()).isEqualTo(GlobalStatus.TIMEOUT_ROLLBACKED.toWire());
        assertThat(snapshot()).isEqualTo(before);
        assertThat(PgFixture.count(raw, "SELECT count(*) FROM undo_log WHERE log_status = 1")).isEqualTo(1);
        assertThat(PgFixture.count(raw, "SELECT count(*) FROM undo_log WHERE log_status = 0")).isZero();
    }

    // ---- unsupported statements ----

    @Override
    Stream<Named<String[]>> unsupported() {
        return Stream.of(
                Named.of("table without primary key", new String[] {"UPDATE nopk SET b = 2 WHERE a = 1", "no primary key"}),
                Named.of("multi-table update", new String[] {"UPDATE account SET balance = o.v FROM other o WHERE o.id = account.id", "multi-table UPDATE"}),
                Named.of("multi-table delete", new String[] {"DELETE FROM account USING other WHERE other.id = account.id", "multi-table DELETE"}),
                Named.of("update of the primary key", new String[] {"UPDATE account SET id = 50 WHERE id = 1", "primary-key column id"}),
                Named.of("DDL", new String[] {"ALTER TABLE account ADD COLUMN z int", "DDL (ALTER)"}),
                Named.of("insert on conflict", new String[] {"INSERT INTO account VALUES (1, 'a', 1, 0) ON CONFLICT (id) DO UPDATE SET balance = 0", "ON CONFLICT"}),
                Named.of("transaction control", new String[] {"COMMIT", "transaction control"}),
                Named.of("two statements in one string", new String[] {
                        "UPDATE account SET balance = 1 WHERE id = 1; UPDATE other SET v = 0 WHERE id = 1",
                        "more than one statement"}),
                Named.of("a write hidden behind a plain select", new String[] {
                        "SELECT 1; DELETE FROM other", "more than one statement"}));
    }

    @Test
    void aTrailingSemicolonOrCommentDropsNothing() throws Exception {
        Map<String, List<List<String>>> before = snapshot();
        String xid = runInGlobal(c -> {
            Statement s = c.createStatement();
            assertThat(s.executeUpdate("UPDATE account SET balance = 5 WHERE id = 1; -- trailing ; comment\n")).isEqualTo(1);
            assertThat(s.executeUpdate("INSERT INTO other VALUES (9, 9) /* c */ ;;")).isEqualTo(1);
            assertThat(s.executeUpdate("DELETE FROM other WHERE id = 2 -- gone")).isEqualTo(1);
            try (PreparedStatement ps = c.prepareStatement("UPDATE other SET v = ? WHERE id = ?;")) {
                ps.setInt(1, 33);
                ps.setInt(2, 3);
                assertThat(ps.executeUpdate()).isEqualTo(1);
            }
        }, false);
        assertThat(PgFixture.rows(raw, "account WHERE id = 1", "id").get(0)).contains("balance=5.00");
        assertThat(PgFixture.rows(raw, "other", "id")).containsExactly(List.of("id=1", "v=10"), List.of("id=3", "v=33"),
                List.of("id=9", "v=9"));
        assertThat(tc.rollbackAndWait(xid)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);
    }

    // ---- global locks ----

    @Test
    void rowsWhoseKeysContainCommasOrUnderscoresAreLockedApart() throws Exception {
        PgFixture.exec(raw, """
                CREATE TABLE IF NOT EXISTS pair_key (a text, b text, v int NOT NULL, PRIMARY KEY (a, b));
                TRUNCATE pair_key;
                INSERT INTO pair_key VALUES ('x_y', 'z', 0), ('x', 'y_z', 0), ('p,q', 'r', 0), ('q', 'r', 0);
                """);
        // Before lock keys were escaped, ('x_y','z') and ('x','y_z') both locked "x_y_z", and ('p,q','r')
        // locked the rows "p" and "q_r", the second of which is ('q','r').
        String holder = runInGlobal(c -> {
            c.createStatement().executeUpdate("UPDATE pair_key SET v = 1 WHERE a = 'x_y' AND b = 'z'");
            c.createStatement().executeUpdate("UPDATE pair_key SET v = 1 WHERE a = 'p,q' AND b = 'r'");
        }, false);
        String other = runInGlobal(c -> {
            c.createStatement().executeUpdate("UPDATE pair_key SET v = 2 WHERE a = 'x' AND b = 'y_z'");
            c.createStatement().executeUpdate("UPDATE pair_key SET v = 2 WHERE a = 'q' AND b = 'r'");
        }, false);

        // The same row still conflicts, and the conflict names it in the escaped form.
        String third = begin();
        assertThatThrownBy(() -> runInGlobal(third, c -> c.createStatement()
                .executeUpdate("UPDATE pair_key SET v = 3 WHERE a = 'x_y' AND b = 'z'"), false))
                .isInstanceOf(GlobalLockConflictException.class).hasMessageContaining(holder)
                .satisfies(e -> assertThat(((GlobalLockConflictException) e).lockKey()).isEqualTo("pair_key:x\\_y_z"));
        assertThat(tc.commitAndWait(holder)).isEqualTo(GlobalStatus.COMMITTED);
        assertThat(tc.rollbackAndWait(other)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(PgFixture.rows(raw, "pair_key", "a COLLATE \"C\", b COLLATE \"C\"")).containsExactly(
                List.of("a=p,q", "b=r", "v=1"), List.of("a=q", "b=r", "v=0"),
                List.of("a=x", "b=y_z", "v=0"), List.of("a=x_y", "b=z", "v=1"));
    }

    // ---- the undo log's form ----

    /**
     * By default the undo log is written as JSON, which every RM version reads (a rolling deploy may send
     * the rollback to an older one); {@code binary} writes the compact form. Either rolls back exactly:
     * an UPDATE of every column type, a DELETE and an INSERT in one branch.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"default", "binary"})
    void theUndoLogIsJsonByDefaultOrBinaryWhenAskedAndEitherRollsBackExactly(String format) throws Exception {
        if (format.equals("binary")) {
            useUndoLogFormat(UndoLogFormat.BINARY);
        }
        Map<String, List<List<String>>> before = snapshot();
        String xid = runInGlobal(c -> {
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE all_types SET c_text = 'changed', c_bytes = '\\x01', c_ints = '{9}',"
                        + " c_jsonb = '{}', c_tstz = now(), c_num = 2 WHERE id IN (1, 2)");
                s.executeUpdate("DELETE FROM ledger.entry WHERE book = 'a'");
                s.executeUpdate("INSERT INTO account VALUES (20, 'zed', 1.00, 0)");
            }
        }, false);
        assertThat(snapshot()).isNotEqualTo(before);
        List<Byte> tags = new ArrayList<>();
        try (Connection c = raw.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT rollback_info FROM undo_log WHERE xid = ?")) {
            ps.setString(1, xid);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    tags.add(rs.getBytes(1)[0]);
                }
            }
        }
        List<Byte> expected = format.equals("binary") ? List.of((byte) 'B', (byte) 'D') : List.of((byte) 'J', (byte) 'Z');
        assertThat(tags).as("format bytes of the undo logs").isNotEmpty().allMatch(expected::contains);

        assertThat(tc.rollbackAndWait(xid)).as(tc.tm().status(xid).getReason()).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);
        assertThat(count("SELECT count(*) FROM undo_log WHERE log_status = 0")).isZero();
    }

    // ---- helpers ----

    /** The branches of {@code xid} with an undo log, in the order they wrote it. */
    /** Rewrites a branch's undo-log row as someone with access to the database could; returns the original. */
    private byte[] alterUndo(String xid, long branchId, UnaryOperator<byte[]> change) throws SQLException {
        byte[] info;
        try (Connection c = raw.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT rollback_info FROM undo_log WHERE xid = ? AND branch_id = ?")) {
            ps.setString(1, xid);
            ps.setLong(2, branchId);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).as("undo log of branch %d", branchId).isTrue();
                info = rs.getBytes(1);
            }
        }
        setUndo(xid, branchId, change.apply(info));
        return info;
    }

    private void setUndo(String xid, long branchId, byte[] info) throws SQLException {
        try (Connection c = raw.getConnection();
             PreparedStatement ps = c.prepareStatement("UPDATE undo_log SET rollback_info = ? WHERE xid = ? AND branch_id = ?")) {
            ps.setBytes(1, info);
            ps.setString(2, xid);
            ps.setLong(3, branchId);
            assertThat(ps.executeUpdate()).isEqualTo(1);
        }
    }

    /**
     * Where the TC does not hold a two-phase branch's images, its undo log is a row, as before: a
     * branch that inserts (PostgreSQL's locking read does not wait for an insert in flight, which a
     * rollback from the TC's images would rely on) and an undo log over the size the TC holds.
     */
    @Test
    void aBranchThatInsertsOrWhoseUndoLogIsLargeKeepsItsUndoLogAsARow() throws Exception {
        Map<String, ?> before = snapshot();
        String inserting = runInGlobal(c -> c.createStatement()
                .executeUpdate("INSERT INTO account (id, owner, balance) VALUES (9, 'zed', 1)"), false);
        assertThat(count("SELECT count(*) FROM undo_log WHERE log_status = 0 AND xid = '" + inserting + "'")).isEqualTo(1);
        assertThat(tc.rollbackAndWait(inserting)).isEqualTo(GlobalStatus.ROLLBACKED);

        // md5 digests: text the undo log's compression cannot shrink below the limit.
        String large = runInGlobal(c -> c.createStatement().executeUpdate("UPDATE account SET owner ="
                + " (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 1500) i) WHERE id = 1"), false);
        assertThat(count("SELECT count(*) FROM undo_log WHERE log_status = 0 AND xid = '" + large + "'")).isEqualTo(1);
        assertThat(tc.rollbackAndWait(large)).isEqualTo(GlobalStatus.ROLLBACKED);
        assertThat(snapshot()).isEqualTo(before);
    }

    @Override
    String quote(String identifier) {
        return '"' + identifier + '"';
    }

    @Override
    String notNullViolation() {
        return "23502";
    }

    @Override
    void exec(String sql) throws SQLException {
        PgFixture.exec(raw, sql);
    }

    @Override
    long sessionsWaitingForARowLock() throws SQLException {
        return count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
    }

    @Override
    Map<String, List<List<String>>> snapshot() throws SQLException {
        Map<String, List<List<String>>> out = new LinkedHashMap<>();
        for (int i = 0; i < TABLES.length; i++) {
            out.put(TABLES[i], PgFixture.rows(raw, TABLES[i], ORDER[i]));
        }
        return out;
    }
}
