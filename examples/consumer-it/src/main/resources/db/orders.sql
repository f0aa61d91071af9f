CREATE TABLE IF NOT EXISTS purchase_order (
    id       BIGSERIAL    PRIMARY KEY,
    item     VARCHAR(64)  NOT NULL,
    quantity INT          NOT NULL
);
