package io.cohort.rm;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.XidContext;
import io.cohort.rm.jdbc.ResourceManager;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;

/**
 * An RM process for crash tests: joins global transaction {@code xid} as resource
 * {@code resourceId}, runs {@code sql} in one local transaction (phase 1: branch registered, undo
 * log written, local commit), prints {@code PHASE1-DONE} and waits to be killed.
 *
 * <p>Arguments: tcAddress jdbcUrl user password resourceId xid sql [deleteInterval]; deleteInterval
 * (ISO-8601, e.g. PT1H) is how often the RM flushes its queued undo-log deletes, and with it the RM
 * writes every undo log as a row ({@code cohort.rm.undo.images-at-tc} off), so there are deletes to queue.
 */
public final class RmChild {

    private RmChild() {
    }

    public static void main(String[] args) throws Exception {
        String tcAddress = args[0];
        HikariDataSource pool = new HikariDataSource();
        pool.setJdbcUrl(args[1]);
        pool.setUsername(args[2]);
        pool.setPassword(args[3]);
        pool.setMaximumPoolSize(2);
        TcClient tc = new TcClient(TcClientConfig.of(tcAddress, "rm-child"));
        RmConfig config = args.length > 7
                ? RmConfig.defaults().withDeleteInterval(Duration.parse(args[7])).withImagesAtTc(false)
                : RmConfig.defaults();
        ResourceManager rm = ResourceManager.builder(BranchCoordinator.of(tc)).config(config).build();
        DataSource ds = rm.wrap(pool, args[4]);
        rm.connect(tc.config(), 1);
        if (!rm.awaitConnected(TcHarness.CONNECT_WAIT)) {
            System.out.println("NOT-CONNECTED");
            System.exit(2);
        }
        XidContext.bind(args[5]);
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            c.setAutoCommit(false);
            s.executeUpdate(args[6]);
            c.commit();
        }
        XidContext.unbind();
        System.out.println("PHASE1-DONE");
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
