package io.cohort.tc.store.postgres;

/**
 * The store contract (and the store's own tests) with pgJDBC in the mode it switches every
 * statement to after five executions on a connection: server-prepared, results in binary. Each of
 * the other tests runs most statements fewer times than that per connection, so they read text
 * results; a user's TC reads binary ones within seconds. {@code prepareThreshold=-1} makes the
 * driver prepare and read binary from the first execution.
 */
class PostgresTransactionStoreBinaryTest extends PostgresTransactionStoreTest {

    @Override
    String storeUrl(String databaseUrl) {
        return databaseUrl + "?prepareThreshold=-1";
    }
}
