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

-- Recovery (unended transactions), listings by status, purge of old final ones.
CREATE INDEX IF NOT EXISTS cohort_global_tx_status_updated ON cohort_global_tx (status, updated_at);

-- One row per branch. No foreign key to cohort_global_tx: registration already holds a share lock
-- on the global row while it checks the status, and the purge deletes branches in the same statement
-- as their global row, so the key check would only add a lookup to the hot path.
CREATE TABLE IF NOT EXISTS cohort_branch (
    branch_id        bigint      PRIMARY KEY,          -- unique across the cluster; registration order
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

-- Release and listing of the locks of one transaction.
CREATE INDEX IF NOT EXISTS cohort_row_lock_xid ON cohort_row_lock (xid);

-- Every status change of a transaction and of its branches (the console's timeline), written by the
-- same statement as the change itself. The begin is the global row's begin_time and a branch's
-- registration its branch row; the registration is copied here when the branch rows are deleted
-- at the end. Purged with the transaction.
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
