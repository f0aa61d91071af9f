package io.cohort.rm;


/**
 * {@link ThreePhaseIT}'s tests with bank A on MariaDB and bank B on PostgreSQL: the vote, PreCommit
 * and DoCommit across the two databases, MariaDB's RM deciding branches alone within its
 * termination timeout when no TC answers, and the restarted TC agreeing or repairing the split.
 */
class MariaDbThreePhaseIT extends ThreePhaseIT {

    @Override
    TestDb databaseOf(String bank) {
        return bank.equals("a") ? TestDb.MARIADB : TestDb.POSTGRES;
    }
}
