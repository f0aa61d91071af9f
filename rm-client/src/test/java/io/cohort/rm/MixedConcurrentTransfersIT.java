package io.cohort.rm;

/** {@link ConcurrentTransfersIT}'s transfers with bank A on MariaDB and bank B on PostgreSQL. */
class MixedConcurrentTransfersIT extends ConcurrentTransfersIT {

    @Override
    TestDb databaseOf(String bank) {
        return bank.equals("a") ? TestDb.MARIADB : TestDb.POSTGRES;
    }
}
