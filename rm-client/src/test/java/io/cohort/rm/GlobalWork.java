package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.XidContext;
import io.cohort.protocol.BranchStatus;
import io.cohort.rm.jdbc.ResourceManager;
import io.cohort.rm.jdbc.RmInternals;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * What the AT-mode ITs share: work run through the RM inside a global transaction, and a branch
 * rolled back the way the RM does it alone under three-phase commit.
 */
final class GlobalWork {

    private GlobalWork() {
    }

    /** SQL run on a connection of the RM's proxy data source. */
    interface Work {
        void run(Connection c) throws Exception;
    }

    /**
     * Runs {@code work} on a connection of {@code ds} with {@code xid} bound to the thread; commits
     * unless {@code autoCommit}, and rolls back and rethrows when the work fails.
     */
    static void run(DataSource ds, String xid, Work work, boolean autoCommit) throws Exception {
        String previous = XidContext.bind(xid);
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(autoCommit);
            try {
                work.run(c);
                if (!autoCommit) {
                    c.commit();
                }
            } catch (Exception e) {
                if (!autoCommit) {
                    c.rollback();
                }
                throw e;
            }
        } finally {
            XidContext.restore(previous);
        }
    }

    /** SQL run on a connection of the RM's proxy data source, failing only with {@link SQLException}. */
    interface SqlWork {
        void run(Connection c) throws SQLException;
    }

    /** {@link #run} in one local transaction (autocommit off), for work that fails only with SQL errors. */
    static void inTransaction(DataSource ds, String xid, SqlWork work) throws SQLException {
        try {
            run(ds, xid, work::run, false);
        } catch (SQLException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("SqlWork threw a checked exception other than SQLException", e);
        }
    }

    /**
     * Undoes the branch from its undo-log row on {@code c} (a raw connection, in a transaction the
     * caller commits) and marks the row ROLLED_BACK_ALONE, as the RM's termination monitor does.
     */
    static void rollBackAlone(ResourceManager rm, String resourceId, Connection c, String xid, long branchId)
            throws SQLException {
        byte[] info;
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT rollback_info FROM undo_log WHERE xid = ? AND branch_id = ? FOR UPDATE")) {
            ps.setString(1, xid);
            ps.setLong(2, branchId);
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).as("undo-log row of " + xid + " branch " + branchId).isTrue();
                info = rs.getBytes(1);
            }
        }
        // null: tables not checked, as for a rollback the RM does alone
        RmInternals.Applied undone = RmInternals.rollBackImages(rm, resourceId, c, xid, branchId, info);
        assertThat(undone.status()).as(undone.reason()).isEqualTo(BranchStatus.PHASE2_ROLLBACKED);
        try (PreparedStatement ps = c.prepareStatement("UPDATE undo_log SET log_status = ? WHERE xid = ? AND branch_id = ?")) {
            ps.setInt(1, RmInternals.ROLLED_BACK_ALONE);
            ps.setString(2, xid);
            ps.setLong(3, branchId);
            assertThat(ps.executeUpdate()).isEqualTo(1);
        }
    }
}
