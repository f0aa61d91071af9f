-- Cohort RM on MySQL 8 and MariaDB 10.11+ (InnoDB): the undo log and the three-phase decision
-- table, with the same columns and meanings as sql/rm/postgresql.sql (read it for log_status and
-- the decision table). Apply once per database the service writes to (re-applying is harmless).
CREATE TABLE IF NOT EXISTS undo_log (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    xid           VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    branch_id     BIGINT       NOT NULL,
    rollback_info LONGBLOB     NOT NULL,
    log_status    SMALLINT     NOT NULL,
    created       TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated       TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    -- The RM names this key in its batched statements (FORCE INDEX): keep the name.
    UNIQUE KEY ux_undo_log_branch (xid, branch_id),
    -- Marker clean-up deletes old markers by age.
    KEY ix_undo_log_created (created),
    -- The 3PC termination scan looks at three-phase rows (log_status >= 2) by age.
    KEY ix_undo_log_three_phase (log_status, updated)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS cohort_branch_decision (
    xid         VARCHAR(128)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    branch_id   BIGINT        NOT NULL,
    decision    VARCHAR(16)   NOT NULL,
    reason      VARCHAR(2000) NOT NULL,
    decided_at  TIMESTAMP(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    reported_at TIMESTAMP(6)  NULL DEFAULT NULL,
    PRIMARY KEY (xid, branch_id),
    KEY ix_cohort_branch_decision_unreported (reported_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
