-- Cohort RM: the undo log, one table in every database an AT-mode service writes to.
-- Apply once per database (the RM never creates it on its own).
--
-- One row per branch. log_status 0 = normal undo log written by phase 1;
-- log_status 1 = marker written by a rollback that found no undo log ("empty rollback"):
-- it makes a late phase 1 of the same branch fail on the unique key, so it can never commit.
CREATE TABLE IF NOT EXISTS undo_log (
    id            BIGSERIAL    PRIMARY KEY,
    xid           VARCHAR(128) NOT NULL,
    branch_id     BIGINT       NOT NULL,
    rollback_info BYTEA        NOT NULL,
    log_status    SMALLINT     NOT NULL,
    created       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT ux_undo_log_branch UNIQUE (xid, branch_id)
);
-- Marker clean-up deletes old markers by age.
CREATE INDEX IF NOT EXISTS ix_undo_log_created ON undo_log (created);
