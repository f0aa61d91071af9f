package io.cohort.rm;

/**
 * {@link ThreePhaseTerminationIT}'s tests with both banks on MariaDB: with dozens of three-phase
 * transfers in flight and the TC gone (killed, unresolvable, black-holed), MariaDB's RMs decide
 * every quiet branch alone within the same bound as on PostgreSQL, timed by MariaDB's clock
 * ({@code undo_log.updated} to {@code cohort_branch_decision.decided_at}).
 */
class MariaDbThreePhaseTerminationIT extends ThreePhaseTerminationIT {

    @Override
    TestDb databaseOf(String bank) {
        return TestDb.MARIADB;
    }
}
