CREATE TABLE IF NOT EXISTS stock (
    item     VARCHAR(64) PRIMARY KEY,
    quantity INT         NOT NULL CHECK (quantity >= 0)
);
