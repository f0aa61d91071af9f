-- Cohort TC store schema for PostgreSQL (the shared store of several TC replicas).
--
-- The one source of this DDL. The TC applies it at start (cohort store "init schema", default on);
-- apply it by hand when the TC's database user may not run DDL. Every statement is idempotent, so
-- running the file again (or from several replicas at once) changes nothing.
--
-- Times are timestamptz written from the TC's clock (epoch milliseconds, exact at microsecond
-- precision), except lease_until, which is the database's. Status columns hold the stable codes of io.cohort.protocol.GlobalStatus / BranchStatus:
-- never renumbered, so old rows stay readable after an upgrade.

-- One row per global transaction; kept after it ends (with its outcome) until the retention purge.
CREATE TABLE IF NOT EXISTS cohort_global_tx (
    xid            text        PRIMARY KEY,
    name           text        NOT NULL DEFAULT '',
    application_id text        NOT NULL DEFAULT '',
    protocol       smallint    NOT NULL,               -- cohort.v1.TransactionProtocol number: 1 = 2PC, 2 = 3PC
    status         smallint    NOT NULL,               -- GlobalStatus#code
    begin_time     timestamptz NOT NULL,
    timeout_ms     bigint      NOT NULL,
    heuristic_evidence text    NOT NULL DEFAULT '',     -- non-empty: branches ended differently (3PC split), and how
    reason         text        NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL,               -- last status change
    -- The replica that drives this transaction (cohort.tc.store.postgres.replica-id) until lease_until,
    -- by the database's clock (now()); renewed while the replica lives, taken over by another once it
    -- has passed. NULL: nobody holds it (handed over, or written before leases existed).
    owner          text,
    lease_until    timestamptz
);

-- Writes made through replicas other than the one that began the transaction (registrations, branch
-- results, status changes): that replica keeps its transactions in memory and checks this count when
-- it decides one, so it reads from the database only when another replica wrote to it.
ALTER TABLE cohort_global_tx ADD COLUMN IF NOT EXISTS changes bigint NOT NULL DEFAULT 0;

-- The status history of the transaction and of its branches (the console's timeline), appended by
-- the statement that makes each change, so a change costs no row (nor index entries) of its own:
-- a JSON array, in write order, of {"at": epoch ms, "b": branch id (0: the transaction itself),
-- "s": status code (GlobalStatus#code for b = 0, else BranchStatus#code), "c": ChangeCause#code,
-- "r": reason}. The begin is begin_time and a branch's registration its branch row (an older version
-- deleted the branch rows at the final move and appended their registrations here).
ALTER TABLE cohort_global_tx ADD COLUMN IF NOT EXISTS history jsonb NOT NULL DEFAULT '[]';

-- When the transaction became final (COMMITTED, ROLLBACKED, TIMEOUT_ROLLBACKED: updated_at then), NULL
-- before. Computed by the database, so rows of any writer (an older replica too) carry it, and
-- adding it computes it for the rows already there (a rewrite of the table, once).
ALTER TABLE cohort_global_tx ADD COLUMN IF NOT EXISTS finished_at timestamptz
    GENERATED ALWAYS AS (CASE WHEN status IN (5, 9, 10) THEN updated_at END) STORED;

-- Recovery, lease renewal and the caps' count (the unfinished transactions, in begin order), and the
-- retention purge (the finished ones, by when). Neither indexes status or updated_at: the moves before
-- the final one (the decision above all) change no indexed value, so PostgreSQL can make them HOT
-- updates (no new index entry), which the room fillfactor leaves in each page makes likely. Only the
-- final move writes index entries (the row leaves the first index and enters the second).
CREATE INDEX IF NOT EXISTS cohort_global_tx_unfinished ON cohort_global_tx (begin_time) WHERE finished_at IS NULL;
CREATE INDEX IF NOT EXISTS cohort_global_tx_finished ON cohort_global_tx (finished_at) WHERE finished_at IS NOT NULL;
DROP INDEX IF EXISTS cohort_global_tx_status_updated;
ALTER TABLE cohort_global_tx SET (fillfactor = 80);

-- One row per branch, kept after its transaction ends until the retention purge deletes it with the
-- global row: the final move writes nothing here. Once the transaction is final (and has no
-- heuristic evidence) only its history reads the row, for the branch's registration. No foreign key
-- to cohort_global_tx: registration already holds a share lock on the global row while it checks the
-- status, and the purge deletes branches in the same statement as their global row, so the key check
-- would only add a lookup to the hot path.
CREATE TABLE IF NOT EXISTS cohort_branch (
    branch_id        bigint      PRIMARY KEY,          -- unique across the cluster (TC-assigned, or random from the RM)
    xid              text        NOT NULL,
    resource_id      text        NOT NULL,
    client_id        text        NOT NULL DEFAULT '',
    lock_keys        text[]      NOT NULL,             -- as the RM sent them: table:pk1,pk2
    application_data bytea       NOT NULL,
    status           smallint    NOT NULL,             -- BranchStatus#code
    registered_at    timestamptz NOT NULL,
    reason           text        NOT NULL DEFAULT ''
);

CREATE INDEX IF NOT EXISTS cohort_branch_xid ON cohort_branch (xid, branch_id);
-- Registration order (rollback goes backward through it): an RM may choose a branch's id, so ids are
-- not in that order.
ALTER TABLE cohort_branch ADD COLUMN IF NOT EXISTS registered_seq bigint GENERATED BY DEFAULT AS IDENTITY;

-- Global row locks: the primary key makes "one holder per row" a database guarantee across replicas.
CREATE TABLE IF NOT EXISTS cohort_row_lock (
    resource_id text        NOT NULL,
    table_name  text        NOT NULL,
    pk          text        NOT NULL,                  -- primary key value, composite keys joined by '_'
    xid         text        NOT NULL,
    branch_id   bigint      NOT NULL,
    acquired_at timestamptz NOT NULL,
    PRIMARY KEY (resource_id, table_name, pk)
);

-- No index on xid: a release deletes by primary key the rows its transaction's branches name (see
-- cohort_branch.lock_keys), so a lock taken costs one index entry, not two. Dropped where an older
-- version created it.
DROP INDEX IF EXISTS cohort_row_lock_xid;

-- The status history as written before it moved into cohort_global_tx.history: a row per change.
-- Nothing writes here any more; rows of an upgraded database are still read (and purged with their
-- transaction), before those of the history column.
CREATE TABLE IF NOT EXISTS cohort_status_history (
    id         bigserial   PRIMARY KEY,                -- write order, for changes within one millisecond
    xid        text        NOT NULL,
    branch_id  bigint      NOT NULL,                   -- 0: the global transaction itself
    status     smallint    NOT NULL,                   -- GlobalStatus#code (branch_id 0), else BranchStatus#code
    cause      smallint    NOT NULL,                   -- io.cohort.tc.model.ChangeCause#code
    reason     text        NOT NULL DEFAULT '',
    at         timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS cohort_status_history_xid ON cohort_status_history (xid, at);
