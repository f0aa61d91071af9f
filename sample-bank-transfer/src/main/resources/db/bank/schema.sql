-- One bank's tables. The RM's undo_log table (db/rm/postgresql.sql) is applied next to these.
CREATE TABLE IF NOT EXISTS account (
    id      BIGINT       PRIMARY KEY,
    owner   VARCHAR(100) NOT NULL,
    balance BIGINT       NOT NULL   -- in cents; no CHECK on purpose: the tests prove the code never overdraws
);

-- One row per transfer this bank took part in: the debit (negative) or the credit (positive).
-- The primary key makes a transfer id apply at most once; the fault tests use it to prove "exactly once".
CREATE TABLE IF NOT EXISTS ledger (
    transfer_id VARCHAR(64) PRIMARY KEY,
    account_id  BIGINT      NOT NULL,
    amount      BIGINT      NOT NULL
);
