-- Cohort RM: the undo log, one table in every database an AT-mode service writes to, and (for
-- three-phase commit) the record of branches the RM finished on its own.
-- Apply once per database (the RM creates them itself only with cohort.rm.schema.initialize=true);
-- re-applying is harmless and upgrades an older undo_log in place.
--
-- One undo_log row per branch. log_status:
--   0 = undo log of a two-phase (2PC) branch, written by phase 1;
--   1 = marker written by a rollback that found no undo log ("empty rollback"): it makes a late
--       phase 1 of the same branch fail on the unique key, so it can never commit;
--   2 = undo log of a three-phase (3PC) branch that has not seen PreCommit;
--   3 = 3PC branch that saw PreCommit (or learned from the TC that the outcome is commit);
--   4 = 3PC branch this RM rolled back on its own (no TC answered): rollback_info is kept, so the
--       TC can still redo it from the after image if the global outcome was commit;
--   5 = 3PC branch this RM committed on its own: rollback_info is emptied; the row stays so that
--       a later rollback is refused with a clear reason instead of answered "done".
-- updated = the last word from the TC about the branch (3PC: the termination timer counts from it).
-- Keyed by (xid, branch_id) alone: every row is written once and deleted soon, and each index is
-- work on every branch (an older table's id column and its index are dropped below).
CREATE TABLE IF NOT EXISTS undo_log (
    xid           VARCHAR(128) NOT NULL,
    branch_id     BIGINT       NOT NULL,
    rollback_info BYTEA        NOT NULL,
    log_status    SMALLINT     NOT NULL,
    created       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT ux_undo_log_branch PRIMARY KEY (xid, branch_id)
);
ALTER TABLE undo_log ADD COLUMN IF NOT EXISTS updated TIMESTAMPTZ NOT NULL DEFAULT now();
-- Upgrade: the surrogate id (read by no version of the RM) goes with its index and sequence; the
-- unique (xid, branch_id) of such a table identifies its rows to logical replication.
ALTER TABLE undo_log DROP COLUMN IF EXISTS id;
ALTER TABLE undo_log REPLICA IDENTITY USING INDEX ux_undo_log_branch;
-- Marker clean-up deletes old markers by age; two- and three-phase rows never enter this index.
DROP INDEX IF EXISTS ix_undo_log_created;
CREATE INDEX IF NOT EXISTS ix_undo_log_markers ON undo_log (created) WHERE log_status = 1;
-- The 3PC termination scan looks only at three-phase rows; two-phase rows never enter this index.
CREATE INDEX IF NOT EXISTS ix_undo_log_three_phase ON undo_log (updated) WHERE log_status >= 2;

-- 3PC: what this RM decided on its own for a branch, and why (no TC answered for
-- cohort.rm.three-phase.termination-timeout). decision is COMMITTED or ROLLBACKED; reported_at is
-- when the TC learned of it (a ReportBranch it answered, or a later command). Rows are deleted
-- cohort.rm.undo.marker-retention after they were reported.
CREATE TABLE IF NOT EXISTS cohort_branch_decision (
    xid         VARCHAR(128)  NOT NULL,
    branch_id   BIGINT        NOT NULL,
    decision    VARCHAR(16)   NOT NULL,
    reason      VARCHAR(2000) NOT NULL,
    decided_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    reported_at TIMESTAMPTZ,
    CONSTRAINT pk_cohort_branch_decision PRIMARY KEY (xid, branch_id)
);
-- The RM looks for decisions the TC has not heard of every check interval.
CREATE INDEX IF NOT EXISTS ix_cohort_branch_decision_unreported ON cohort_branch_decision (decided_at)
    WHERE reported_at IS NULL;
