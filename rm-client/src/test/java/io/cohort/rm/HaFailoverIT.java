package io.cohort.rm;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.GlobalStatus;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestPostgres;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;

/**
 * Three TC processes on one PostgreSQL database (leases), two banks on two databases with real AT
 * RMs connected to every replica, concurrent transfers through a TM that knows all three
 * addresses, and one replica killed with SIGKILL (then restarted) every ~10 s. Afterwards the money
 * is where it was, and no undo log, global lock or unfinished transaction is left.
 */
class HaFailoverIT {

    private static final int ACCOUNTS = 10;
    private static final long INITIAL = 1_000;
    private static final int WORKERS = 6;
    private static final int KILLS = 3;
    private static final Duration KILL_EVERY = Duration.ofSeconds(10);
    private static final Duration LEASE = Duration.ofSeconds(2);
    private static final Duration TX_TIMEOUT = Duration.ofSeconds(5);

    @Test
    void moneyIsConstantAndNothingIsLeftWhileReplicasAreKilledAndRestarted() throws Exception {
        String tcUrl = TestPostgres.get().createDatabase("tc_ha");
        List<TcProcess> replicas = new ArrayList<>();
        try (HikariDataSource tcDb = TestPostgres.get().dataSource(tcUrl, 1);
             Bank a = new Bank("a"); Bank b = new Bank("b")) {
            for (int i = 0; i < 3; i++) {
                replicas.add(TcProcess.postgresOn(tcUrl, "--cohort.tc.store.postgres.lease-time=" + LEASE.toMillis() + "ms",
                        "--cohort.tc.store.postgres.renew-interval=400ms",
                        "--cohort.tc.recovery.command-timeout=3s").start());
            }
            String addresses = replicas.stream().map(TcProcess::grpcAddress).collect(Collectors.joining(","));
            a.startRm(addresses);
            b.startRm(addresses);
            TcClient tm = new TcClient(new TcClientConfig(addresses, "ha-tm", "", Duration.ofSeconds(2), 3,
                    Duration.ofMillis(100)));

            AtomicBoolean running = new AtomicBoolean(true);
            AtomicLong committed = new AtomicLong();
            AtomicLong failed = new AtomicLong();
            ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
            for (int w = 0; w < WORKERS; w++) {
                pool.execute(() -> transfers(tm, a, b, running, committed, failed));
            }
            Random random = new Random();
            for (int k = 0; k < KILLS; k++) {
                long until = System.nanoTime() + KILL_EVERY.toNanos();
                while (System.nanoTime() < until) {
                    Thread.sleep(100);
                }
                TcProcess victim = replicas.get(random.nextInt(replicas.size()));
                victim.kill();
                victim.start();
            }
            running.set(false);
            pool.shutdown();
            assertThat(pool.awaitTermination(120, TimeUnit.SECONDS)).isTrue();
            System.out.printf("HA failover: %d transfers committed, %d failed or rolled back, %d kills%n",
                    committed.get(), failed.get(), KILLS);
            assertThat(committed.get()).as("transfers got through").isPositive();

            // Everything ends: timeouts (TX_TIMEOUT) plus a lease plus retries, generously.
            String unended = Arrays.stream(GlobalStatus.values()).filter(s -> !s.isEnded())
                    .map(s -> Integer.toString(s.code())).collect(Collectors.joining(","));
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (PgFixture.count(tcDb, "SELECT count(*) FROM cohort_global_tx WHERE status IN (" + unended + ")") > 0) {
                assertThat(System.nanoTime()).as("every transaction ended").isLessThan(deadline);
                Thread.sleep(200);
            }
            assertThat(PgFixture.count(tcDb, "SELECT count(*) FROM cohort_global_tx WHERE status IN ("
                    + GlobalStatus.COMMIT_FAILED.code() + "," + GlobalStatus.ROLLBACK_FAILED.code() + ")"))
                    .as("transactions waiting for a person").isZero();
            assertThat(PgFixture.count(tcDb, "SELECT count(*) FROM cohort_row_lock")).as("global locks").isZero();
            assertThat(a.total() + b.total()).as("money").isEqualTo(2 * ACCOUNTS * INITIAL);
            assertThat(a.liveUndoLogs()).as("undo logs of bank a").isZero();
            assertThat(b.liveUndoLogs()).as("undo logs of bank b").isZero();
            tm.close();
        } finally {
            replicas.forEach(TcProcess::close);
        }
    }

    private static void transfers(TcClient tm, Bank a, Bank b, AtomicBoolean running, AtomicLong committed,
                                  AtomicLong failed) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        while (running.get()) {
            String xid;
            try {
                xid = tm.begin("transfer", TX_TIMEOUT, null);
            } catch (RuntimeException e) {
                failed.incrementAndGet();
                sleep(50);
                continue;
            }
            int from = 1 + random.nextInt(ACCOUNTS);
            int to = 1 + random.nextInt(ACCOUNTS);
            long amount = 1 + random.nextInt(5);
            try {
                a.update(xid, "UPDATE account SET balance = balance - " + amount + " WHERE id = " + from);
                b.update(xid, "UPDATE account SET balance = balance + " + amount + " WHERE id = " + to);
                if (random.nextInt(10) == 0) {
                    tm.rollback(xid);
                    failed.incrementAndGet();
                } else {
                    tm.commit(xid);
                    committed.incrementAndGet();
                }
            } catch (Exception e) {
                failed.incrementAndGet();
                try {
                    tm.rollback(xid);
                } catch (RuntimeException notReached) {
                    // the owner (or a survivor) rolls it back at its timeout
                }
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One bank: its database, and an AT RM on it connected to every TC replica. */
    private static final class Bank implements AutoCloseable {
        final String name;
        final HikariDataSource raw;
        TcClient client;
        ResourceManager rm;
        DataSource ds;

        Bank(String name) throws Exception {
            this.name = name;
            raw = TestPostgres.get().dataSource(PgFixture.createDatabase("rm_ha_" + name), 8);
            PgFixture.applyUndoLogDdl(raw);
            PgFixture.exec(raw, "CREATE TABLE account (id bigint PRIMARY KEY, balance bigint NOT NULL)");
            PgFixture.exec(raw, "INSERT INTO account SELECT g, " + INITIAL + " FROM generate_series(1, " + ACCOUNTS + ") g");
        }

        void startRm(String addresses) {
            client = new TcClient(new TcClientConfig(addresses, "bank-" + name, "", Duration.ofSeconds(2), 3,
                    Duration.ofMillis(100)));
            rm = ResourceManager.builder(BranchCoordinator.of(client)).build();
            ds = rm.wrap(raw, "bank-" + name);
            rm.connect(client.config(), 2);
            assertThat(rm.awaitConnected(Duration.ofSeconds(20))).isTrue();
        }

        void update(String xid, String sql) throws SQLException {
            String previous = XidContext.bind(xid);
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                c.setAutoCommit(false);
                try {
                    s.executeUpdate(sql);
                    c.commit();
                } catch (SQLException e) {
                    c.rollback();
                    throw e;
                }
            } finally {
                XidContext.restore(previous);
            }
        }

        long total() throws SQLException {
            return PgFixture.count(raw, "SELECT sum(balance) FROM account");
        }

        long liveUndoLogs() throws SQLException {
            rm.flushUndoDeletes();
            return PgFixture.count(raw, "SELECT count(*) FROM undo_log WHERE log_status <> 1");
        }

        @Override
        public void close() throws Exception {
            if (rm != null) {
                rm.close();
                client.close();
            }
            raw.close();
        }
    }
}
