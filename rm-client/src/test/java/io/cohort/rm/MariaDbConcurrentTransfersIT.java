package io.cohort.rm;

/** {@link ConcurrentTransfersIT}'s transfers with both banks on MariaDB. */
class MariaDbConcurrentTransfersIT extends ConcurrentTransfersIT {

    @Override
    TestDb databaseOf(String bank) {
        return TestDb.MARIADB;
    }
}
