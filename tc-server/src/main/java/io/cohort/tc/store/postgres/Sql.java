package io.cohort.tc.store.postgres;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.ChangeCause;
import java.util.Arrays;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * Every statement of the PostgreSQL store, in one place so the round trips per call can be read off.
 * Schema: {@code sql/tc/postgresql.sql}.
 *
 * <p>Registrations take row locks in one order, the "C" collation (byte order) of (resource,
 * table, pk): two transactions that want overlapping rows then queue on the first shared row
 * instead of deadlocking. Releases need no order (see {@link #RELEASE_LOCKS}).
 */
final class Sql {

    static final String GLOBAL_COLUMNS =
            "xid, name, application_id, protocol, status, begin_time, timeout_ms, heuristic_evidence, reason, updated_at";
    static final String BRANCH_COLUMNS =
            "xid, branch_id, resource_id, client_id, lock_keys, application_data, status, registered_at, reason";
    static final String LOCK_COLUMNS = "resource_id, table_name, pk, xid, branch_id, acquired_at";

    /** The end of a lease taken now, by the database's clock; its parameter is the lease time in ms. */
    static final String LEASE_END = "now() + ? * interval '1 millisecond'";

    private static final String LOCK_ORDER = "resource_id COLLATE \"C\", table_name COLLATE \"C\", pk COLLATE \"C\"";

    /**
     * A new global transaction; an existing XID inserts nothing (update count 0) rather than failing
     * the batch. Committed without waiting for the WAL flush: {@code TransactionStore} lets a new
     * global transaction become durable with the next write, and any later durable commit (a
     * branch, a decision) flushes the WAL past this one, on the primary and on synchronous standbys
     * alike.
     */
    static final String INSERT_GLOBAL_ASYNC = """
            WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
            INSERT INTO cohort_global_tx (%s, owner, lease_until)
            SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, %s FROM async
            ON CONFLICT (xid) DO NOTHING""".formatted(GLOBAL_COLUMNS, LEASE_END);

    /**
     * The transactions a batch's registrations of TM-made XIDs create (see {@code Registrations}),
     * unless they exist, in the batch's transaction: committed (durably) with the registrations.
     * Parameters: per transaction XID, name, application, protocol, status, begin time (epoch ms),
     * timeout, heuristic evidence, reason, update time (epoch ms), after the owner and the lease ms.
     * Returns the XIDs it inserted.
     */
    static final String CREATE_GLOBALS = """
            INSERT INTO cohort_global_tx (%s, owner, lease_until)
            SELECT v.x, v.n, v.a, v.p, v.s, timestamptz 'epoch' + v.b * interval '1 millisecond', v.t, v.h, v.r,
                   timestamptz 'epoch' + v.u * interval '1 millisecond', ?, %s
            FROM unnest(?::text[], ?::text[], ?::text[], ?::smallint[], ?::smallint[], ?::bigint[], ?::bigint[],
                        ?::text[], ?::text[], ?::bigint[]) AS v(x, n, a, p, s, b, t, h, r, u)
            ORDER BY v.x
            ON CONFLICT (xid) DO NOTHING
            RETURNING xid""".formatted(GLOBAL_COLUMNS, LEASE_END);

    /**
     * A batch's registrations (see {@code Registrations}) in one statement. {@code g} share-locks
     * the global rows, so a concurrent decision (an UPDATE of the status) waits for the batch to
     * commit, or the batch sees it. Every registration whose transaction is in BEGIN gets its branch
     * row and every wanted row lock unless the row is held: in lock order (two batches that want
     * overlapping rows queue on the first shared row instead of deadlocking) and, within a row, in
     * queue order (the earlier registration gets it). The caller then deletes again what it refuses.
     * Parameters: the XIDs; per branch XID, id, resource, client, lock keys (an array literal),
     * application data (hex), status, registration time (epoch ms), reason; per row resource, table, pk,
     * XID, branch id, acquisition time (epoch ms). Result rows are (xid, status, nulls) for every
     * known XID, (nulls, resource, table, pk, branch id) for every lock inserted, or (nulls, branch
     * id) for every branch row inserted. {@code begun} is one row, {@code MATERIALIZED}: the
     * XIDs in BEGIN as one object, which each registration and row looks up by key; a join with
     * {@code g} compared every row with every transaction of the batch (n² for a batch of n) under
     * the key-lookup plans (see {@code PostgresStoreConfig#KEY_LOOKUP_PLANS}).
     *
     * <p>{@code exclusive}: for a batch with registrations of transactions this replica does not
     * hold in memory, the global rows are locked for the update of {@link #COUNT_FOREIGN_CHANGES}
     * right away, in XID order, rather than share-locked and then upgraded (two such batches could
     * then deadlock).
     *
     * <p>{@code idsMayBeStored}: the branch rows go in with {@code ON CONFLICT (branch_id) DO
     * NOTHING}, so a branch id already stored (one an RM sent twice) inserts nothing rather than
     * failing the batch. Without it the insert is a plain one: an {@code ON CONFLICT} insert costs
     * PostgreSQL a speculative insertion and its confirmation in the WAL per branch (measured in
     * bench/MEASUREMENTS.md, "The TC alone"), for an id that is almost never stored. A batch that
     * fails on a stored id runs again with it (see {@code GroupCommit}).
     */
    static String register(boolean exclusive, boolean idsMayBeStored) {
        return REGISTER[(exclusive ? 2 : 0) + (idsMayBeStored ? 1 : 0)];
    }

    private static final String[] REGISTER = {register("FOR SHARE", ""),
            register("FOR SHARE", "ON CONFLICT (branch_id) DO NOTHING"), register("FOR NO KEY UPDATE", ""),
            register("FOR NO KEY UPDATE", "ON CONFLICT (branch_id) DO NOTHING")};

    private static String register(String lock, String onStoredId) {
        return """
            WITH g AS (
                SELECT xid, status FROM cohort_global_tx WHERE xid = ANY (?::text[]) ORDER BY xid %4$s
            ), begun AS MATERIALIZED (
                SELECT coalesce(jsonb_object_agg(xid, true) FILTER (WHERE status = %2$d), '{}') AS xids FROM g
            ), b AS (
                INSERT INTO cohort_branch (%1$s)
                SELECT v.x, v.b, v.r, v.c, v.k::text[], decode(v.d, 'hex'), v.s, timestamptz 'epoch' + v.a * interval '1 millisecond', v.e
                FROM unnest(?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::smallint[],
                            ?::bigint[], ?::text[]) AS v(x, b, r, c, k, d, s, a, e), begun
                WHERE begun.xids -> v.x IS NOT NULL
                %5$s
                RETURNING branch_id
            ), l AS (
                INSERT INTO cohort_row_lock (%3$s)
                SELECT u.r, u.t, u.p, u.x, u.b, timestamptz 'epoch' + u.a * interval '1 millisecond'
                FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[])
                     WITH ORDINALITY AS u(r, t, p, x, b, a, n), begun
                WHERE begun.xids -> u.x IS NOT NULL
                ORDER BY u.r COLLATE "C", u.t COLLATE "C", u.p COLLATE "C", u.n
                ON CONFLICT (resource_id, table_name, pk) DO NOTHING
                RETURNING resource_id, table_name, pk, branch_id
            )
            SELECT xid, status, NULL::text, NULL::text, NULL::text, NULL::bigint FROM g
            UNION ALL
            SELECT NULL, NULL, resource_id, table_name, pk, branch_id FROM l
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, NULL, branch_id FROM b""".formatted(BRANCH_COLUMNS,
            GlobalStatus.BEGIN.code(), LOCK_COLUMNS, lock, onStoredId);
    }

    /** Branch rows of registrations a batch refused after {@link #register} inserted them. */
    static final String DELETE_BATCH_BRANCHES = "DELETE FROM cohort_branch WHERE branch_id = ANY (?::bigint[])";

    /** Who holds each of the given rows (those not held are left out). */
    static final String FIND_HOLDERS = """
            SELECT l.resource_id, l.table_name, l.pk, l.xid, l.branch_id, l.acquired_at
            FROM unnest(?::text[], ?::text[], ?::text[]) AS u(r, t, p)
            JOIN cohort_row_lock l ON l.resource_id = u.r AND l.table_name = u.t AND l.pk = u.p""";

    /** Takes back locks a batch inserted for registrations it then refused (rows with the branch that took them). */
    static final String DELETE_BATCH_LOCKS = """
            DELETE FROM cohort_row_lock l USING unnest(?::text[], ?::text[], ?::text[], ?::bigint[]) AS u(r, t, p, b)
            WHERE l.resource_id = u.r AND l.table_name = u.t AND l.pk = u.p AND l.branch_id = u.b""";

    /**
     * One entry of {@code cohort_global_tx.history}: time (epoch ms), branch id (0: the transaction),
     * status code, cause code, reason; built from the four expressions given.
     */
    private static String entry(String atMs, String branchId, String status, String cause, String reason) {
        return "jsonb_build_object('at', %s, 'b', %s, 's', %s, 'c', %s, 'r', %s)".formatted(atMs, branchId, status,
                cause, reason);
    }

    /**
     * The status moves of a batch, one statement for all of them (each XID at most once). Whoever
     * moves a transaction drives it next: the move takes the lease (see {@link #CLAIM}). The change
     * is appended to the row's {@code history} by the same UPDATE (no row of its own). The rows are
     * locked in XID order in their status {@code from} first, and the UPDATE re-checks it, so a move
     * that loses a race to another writer records nothing. A move to a final status leaves the
     * branch rows where they are (see {@link #FIND_BRANCHES}). One statement per batch rather than
     * one execution per move (a JDBC batch): the set-up of each execution cost PostgreSQL 3-4 times
     * the CPU (bench/MEASUREMENTS.md, "The TC alone"). Parameters, per move: XID, from, to, reason, time (epoch ms),
     * the addition to {@code changes} (1 from a replica that does not hold the transaction in
     * memory, see {@code OwnedTransactions}; 0 from the one that does, which reads the column back),
     * cause; then the rows whose locks go (see below), the owner and the lease ms. Returns (xid,
     * changes) of every row moved. {@code moved} is one row, {@code MATERIALIZED}: the XIDs moved,
     * as one object each lock row looks up by key. The key-lookup plans (see
     * {@code PostgresStoreConfig#KEY_LOOKUP_PLANS}) would evaluate a plain CTE again for every row,
     * and a join with one row per XID compared every row with every XID: n² for a batch of n
     * (bench/MEASUREMENTS.md, "The TC alone").
     *
     * <p>A 2PC commit decision (a move to ASYNC_COMMITTING) frees the transaction's rows at once: its
     * row locks are deleted by the same statement, by primary key as in {@link #RELEASE_LOCKS}, when
     * the move is made (looked up by key in {@code moved}, as {@code entries}). Parameters 9-12 are
     * those rows (resource, table, pk, holder XID), empty for the other moves; the coordinator's
     * {@code releaseLocks} after the decision then has nothing left to do (see
     * {@code PostgresTransactionStore#releaseLocks}): a statement and a commit fewer per transaction.
     */
    static final String TRANSITION_GLOBALS = """
            WITH v AS (
                SELECT * FROM unnest(?::text[], ?::smallint[], ?::smallint[], ?::text[], ?::bigint[], ?::int[], ?::int[])
                    AS v(x, f, t, r, at, add, c)
            ), g AS (
                SELECT c.xid, v.f, v.t, v.r, v.at, v.add, v.c
                FROM cohort_global_tx c JOIN v ON c.xid = v.x AND c.status = v.f ORDER BY c.xid FOR UPDATE OF c
            ), moved AS MATERIALIZED (
                SELECT coalesce(jsonb_object_agg(xid, true), '{}') AS xids FROM g
            ), released AS (
                DELETE FROM cohort_row_lock l USING moved, unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS u(r, t, p, x)
                WHERE moved.xids -> u.x IS NOT NULL
                    AND l.resource_id = u.r AND l.table_name = u.t AND l.pk = u.p AND l.xid = u.x
            )
            UPDATE cohort_global_tx u SET status = g.t, reason = g.r,
                updated_at = timestamptz 'epoch' + g.at * interval '1 millisecond', owner = ?, lease_until = %1$s,
                changes = u.changes + g.add, history = u.history || jsonb_build_array(%2$s)
            FROM g
            WHERE u.xid = g.xid AND u.status = g.f
            RETURNING u.xid, u.changes""".formatted(LEASE_END, entry("g.at", "0", "g.t", "g.c", "g.r"));

    /** The last parameter adds to {@code changes} as in {@link #TRANSITION_GLOBALS}. */
    static final String MARK_HEURISTIC =
            "UPDATE cohort_global_tx SET heuristic_evidence = ?, updated_at = ?, changes = changes + ? WHERE xid = ?";

    /**
     * A branch's result, appended to the global row's history; the update count is 1 when the
     * branch exists. Parameters: status, reason, branch id, xid; the addition to the global row's
     * {@code changes}, as in {@link #TRANSITION_GLOBALS}; the history entry's time (epoch ms) and cause.
     */
    static final String UPDATE_BRANCH = """
            WITH b AS (
                UPDATE cohort_branch SET status = ?, reason = ? WHERE branch_id = ? AND xid = ?
                RETURNING xid, branch_id, status, reason
            )
            UPDATE cohort_global_tx g SET changes = g.changes + ?, history = g.history || jsonb_build_array(%s)
            FROM b WHERE g.xid = b.xid""".formatted(entry("?::bigint", "b.branch_id", "b.status", "?::int", "b.reason"));

    /**
     * Registrations made through a replica that does not hold the transaction in memory tell the one
     * that does (see {@code OwnedTransactions}); {@link #register}, exclusive, locked the rows first.
     */
    static final String COUNT_FOREIGN_CHANGES =
            "UPDATE cohort_global_tx SET changes = changes + 1 WHERE xid = ANY (?::text[])";

    /**
     * The given rows of the given holders (parameters: per row resource, table, pk, holder XID); a
     * row another transaction holds stays. By primary key: the lock table has no index on the holder.
     * Deleted as found, not locked in the global order first (a lock record per row in the WAL): a
     * registration never makes a release wait (it does not lock the rows it finds held, and the rows
     * it inserts are not the holder's), so only two releases of the same rows at once could deadlock,
     * and PostgreSQL then fails one, which is run again.
     */
    static final String RELEASE_LOCKS = """
            DELETE FROM cohort_row_lock l USING unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS u(r, t, p, x)
            WHERE l.resource_id = u.r AND l.table_name = u.t AND l.pk = u.p AND l.xid = u.x""";

    /** Where the rows to release come from when this replica's memory does not have them (parameter: the XIDs). */
    static final String FIND_LOCK_KEYS = "SELECT xid, resource_id, lock_keys FROM cohort_branch WHERE xid = ANY (?::text[])";

    /**
     * Every lock of the given transactions (parameter: their XIDs), found by a scan of the lock
     * table: only for a branch whose stored lock keys do not parse (see {@code GroupCommit#release}).
     */
    static final String RELEASE_LOCKS_BY_SCAN = """
            DELETE FROM cohort_row_lock l USING (
                SELECT resource_id, table_name, pk FROM cohort_row_lock WHERE xid = ANY (?::text[]) ORDER BY %s FOR UPDATE
            ) s
            WHERE l.resource_id = s.resource_id AND l.table_name = s.table_name AND l.pk = s.pk""".formatted(LOCK_ORDER);

    /**
     * The history of one transaction (parameter: the XID, four times), oldest first: its begin, the
     * registrations of its branch rows (kept until the purge, ended or not: see {@link #FIND_BRANCHES};
     * an older version deleted them at the final move and appended their registrations to
     * {@code history} instead), the changes written to {@code cohort_status_history}
     * (before the history moved into the global row) and those in the global row's {@code history},
     * each source in its write order within one millisecond.
     */
    static final String HISTORY = """
            SELECT at, branch_id, status, cause, reason FROM (
                SELECT begin_time AS at, 0::bigint AS branch_id, %1$d::smallint AS status, %2$d::smallint AS cause,
                       ''::text AS reason, 0 AS src, 0::bigint AS n FROM cohort_global_tx WHERE xid = ?
                UNION ALL
                SELECT registered_at, branch_id, %3$d, %4$d, 'resource ' || resource_id, 1, registered_seq
                FROM cohort_branch WHERE xid = ?
                UNION ALL
                SELECT at, branch_id, status, cause, reason, 2, id FROM cohort_status_history WHERE xid = ?
                UNION ALL
                SELECT timestamptz 'epoch' + (h.e->>'at')::bigint * interval '1 millisecond', (h.e->>'b')::bigint,
                       (h.e->>'s')::smallint, (h.e->>'c')::smallint, h.e->>'r', 3, h.n
                FROM cohort_global_tx g, jsonb_array_elements(g.history) WITH ORDINALITY AS h(e, n) WHERE g.xid = ?
            ) h ORDER BY at, src, n""".formatted(GlobalStatus.BEGIN.code(), ChangeCause.TM.code(),
            BranchStatus.REGISTERED.code(), ChangeCause.RM.code());

    /**
     * Final transactions with their branches and any lock left behind, in one statement (the locks by
     * a scan of the lock table, which has no index on the holder: once per purge, not per transaction).
     */
    static final String PURGE_ENDED_BEFORE = """
            WITH g AS (
                DELETE FROM cohort_global_tx WHERE finished_at < ? RETURNING xid
            ), b AS (
                DELETE FROM cohort_branch WHERE xid IN (SELECT xid FROM g)
            ), l AS (
                DELETE FROM cohort_row_lock WHERE xid IN (SELECT xid FROM g)
            ), h AS (
                DELETE FROM cohort_status_history WHERE xid IN (SELECT xid FROM g)
            )
            SELECT count(*) FROM g""";

    /** Per application, from the index of unfinished rows (few: capped at begin). */
    static final String COUNT_UNFINISHED =
            "SELECT application_id, count(*) FROM cohort_global_tx WHERE finished_at IS NULL GROUP BY application_id";

    static final String FIND_GLOBAL = "SELECT " + GLOBAL_COLUMNS + " FROM cohort_global_tx WHERE xid = ?";

    /**
     * The branches of one transaction (parameter: the XID) in registration order; none once it has
     * ended without heuristic evidence. Those branch rows stay, read only by {@link #HISTORY}, until
     * the retention purge deletes them with their global row: deleting them at the final move, with
     * their registrations copied into {@code history}, cost PostgreSQL a fifth of its CPU per
     * transaction (bench/MEASUREMENTS.md, "The TC alone"). A heuristic transaction's branches stay readable, as
     * evidence.
     */
    static final String FIND_BRANCHES = "SELECT " + prefixed("b.", BRANCH_COLUMNS) + """
             FROM cohort_branch b WHERE b.xid = ? AND NOT EXISTS (
                SELECT 1 FROM cohort_global_tx g
                WHERE g.xid = b.xid AND g.finished_at IS NOT NULL AND g.heuristic_evidence = ''
            ) ORDER BY b.registered_seq""";

    /** The REST API's view of one transaction: a scan of the lock table (no index on the holder). */
    static final String FIND_LOCKS =
            "SELECT " + LOCK_COLUMNS + " FROM cohort_row_lock WHERE xid = ? ORDER BY " + LOCK_ORDER;

    /** The first of the given rows (in the caller's order) held by another XID. */
    static final String FIND_CONFLICT = """
            SELECT l.resource_id, l.table_name, l.pk, l.xid, l.branch_id, l.acquired_at
            FROM unnest(?::text[], ?::text[], ?::text[]) WITH ORDINALITY AS u(r, t, p, n)
            JOIN cohort_row_lock l ON l.resource_id = u.r AND l.table_name = u.t AND l.pk = u.p
            WHERE l.xid <> ? ORDER BY u.n LIMIT 1""";

    static final String GLOBAL_ORDER = " ORDER BY begin_time DESC, xid DESC LIMIT ? OFFSET ?";

    /** Followed by an optional WHERE clause and {@link #GLOBAL_ORDER} (see {@code Listings.globals}). */
    static final String LIST_GLOBALS_SELECT = "SELECT " + GLOBAL_COLUMNS + ", count(*) OVER () FROM cohort_global_tx";
    static final String COUNT_GLOBALS = "SELECT count(*) FROM cohort_global_tx";

    private static final String LOCK_LIST_ORDER = " ORDER BY acquired_at, branch_id, " + LOCK_ORDER + " LIMIT ? OFFSET ?";

    static final String LIST_LOCKS =
            "SELECT " + LOCK_COLUMNS + ", count(*) OVER () FROM cohort_row_lock" + LOCK_LIST_ORDER;
    static final String LIST_LOCKS_BY_RESOURCE = "SELECT " + LOCK_COLUMNS
            + ", count(*) OVER () FROM cohort_row_lock WHERE resource_id = ?" + LOCK_LIST_ORDER;
    static final String COUNT_LOCKS = "SELECT count(*) FROM cohort_row_lock";
    static final String COUNT_LOCKS_BY_RESOURCE = COUNT_LOCKS + " WHERE resource_id = ?";

    static final String FIND_UNENDED = "SELECT " + GLOBAL_COLUMNS + " FROM cohort_global_tx WHERE " + unended("")
            + " ORDER BY begin_time, xid";

    // ---- leases. Every time is the database's now(): replicas' clocks are never compared.

    private static final String UNENDED = unended("");

    /**
     * Every lease of one replica, renewed in one statement (parameters: owner, lease ms). The rows
     * are locked in XID order first, the order every writer batch locks global rows in: a renewal
     * that locked them in scan order could hold one row a batch waits for while it waits for
     * another the batch holds, a deadlock PostgreSQL breaks only after {@code deadlock_timeout}.
     */
    static final String RENEW_LEASES = """
            WITH mine AS (
                SELECT xid FROM cohort_global_tx WHERE owner = ? AND %s ORDER BY xid FOR NO KEY UPDATE
            )
            UPDATE cohort_global_tx g SET lease_until = %s FROM mine WHERE g.xid = mine.xid""".formatted(UNENDED,
            LEASE_END);

    /**
     * The recovery work of one replica, in one statement: takes over unended transactions whose
     * lease ran out (their owner died or gave them up) and whose branches are all on resources this
     * replica has an RM for, then answers those together with the ones it holds. {@code SKIP
     * LOCKED} leaves a row another replica is claiming (or anyone is updating) to that one; the lock
     * re-checks the expiry on the newest row version, so of two replicas claiming the same row
     * exactly one gets it, and neither waits for the other. Parameters: owner, lease ms, the
     * resources this replica reaches, the most rows to take over, owner.
     */
    static final String CLAIM = """
            WITH taken AS (
                UPDATE cohort_global_tx g SET owner = ?, lease_until = %s
                FROM (
                    SELECT c.xid FROM cohort_global_tx c
                    WHERE %s AND (c.owner IS NULL OR c.lease_until IS NULL OR c.lease_until < now())
                      AND NOT EXISTS (SELECT 1 FROM cohort_branch b WHERE b.xid = c.xid AND b.resource_id <> ALL (?::text[]))
                    ORDER BY c.begin_time LIMIT ? FOR UPDATE SKIP LOCKED
                ) e
                WHERE g.xid = e.xid
                RETURNING %s
            )
            SELECT %s FROM cohort_global_tx WHERE %s AND owner = ? AND lease_until >= now()
            UNION ALL SELECT * FROM taken""".formatted(LEASE_END, unended("c."), prefixed("g.", GLOBAL_COLUMNS),
            GLOBAL_COLUMNS, UNENDED);

    /** Takes the lease of one transaction if it is free, expired or ours, or (first parameter true) in any case. */
    static final String ACQUIRE_LEASE = "UPDATE cohort_global_tx SET owner = ?, lease_until = " + LEASE_END
            + " WHERE xid = ? AND (? OR owner IS NULL OR owner = ? OR lease_until IS NULL OR lease_until < now())";

    /** Gives a lease up so another replica claims the transaction on its next recovery pass. */
    static final String RELEASE_LEASE =
            "UPDATE cohort_global_tx SET owner = NULL, lease_until = NULL WHERE xid = ? AND owner = ?";

    static final String COUNT_BY_STATUS = "SELECT status, count(*) FROM cohort_global_tx GROUP BY status";

    static final String HEALTH = "SELECT 1";

    /** The database's clock in epoch ms: the time every replica decides timeouts by (see {@code DatabaseClock}). */
    static final String DATABASE_TIME = "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint";

    /** Serializes schema creation among replicas starting together (CREATE ... IF NOT EXISTS can race). */
    static final String SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(4242424242)";

    private static String prefixed(String prefix, String columns) {
        return Arrays.stream(columns.split(", ")).map(c -> prefix + c).collect(Collectors.joining(", "));
    }

    /**
     * Unended: not final (so the index of unfinished rows serves it, see {@code sql/tc/postgresql.sql})
     * and not waiting for a person; the columns with {@code prefix}.
     */
    private static String unended(String prefix) {
        return prefix + "finished_at IS NULL AND " + prefix + "status IN (" + codes(s -> !s.isEnded()) + ")";
    }

    private static String codes(Predicate<GlobalStatus> filter) {
        return Arrays.stream(GlobalStatus.values()).filter(filter)
                .map(s -> Integer.toString(s.code())).collect(Collectors.joining(", "));
    }

    private Sql() {
    }
}
