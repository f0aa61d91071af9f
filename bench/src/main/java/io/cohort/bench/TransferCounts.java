package io.cohort.bench;

import java.lang.management.ManagementFactory;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a measured window did, in counts the machine's load does not change ({@code transfer
 * --counts=on}): the bench JVM's heap allocation and both JVMs' context switches, by thread group;
 * on PostgreSQL the server's WAL (records, bytes: {@code pg_stat_wal}, the whole server's, so a
 * server of its own gives the benchmark's alone) and, where {@code pg_stat_statements} is loaded,
 * each statement the two bank databases ran. Printed per committed transfer after the driver's line.
 */
final class TransferCounts {

    /** A snapshot at one end of the window. */
    record Sample(Map<Long, Long> allocated, ThreadCounters bench, ThreadCounters tc, long[] wal,
                  Map<String, double[]> statements) {
    }

    private final String adminUrl;
    private final String user;
    private final String password;
    private final List<String> databases;
    private final boolean postgres;

    TransferCounts(String adminUrl, String user, String password, List<String> databases, boolean postgres) {
        this.adminUrl = adminUrl;
        this.user = user;
        this.password = password;
        this.databases = databases;
        this.postgres = postgres;
    }

    Sample sample(long tcPid) {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long[] ids = threads.getAllThreadIds();
        long[] bytes = threads.getThreadAllocatedBytes(ids);
        Map<Long, Long> allocated = new HashMap<>();
        for (int i = 0; i < ids.length; i++) {
            if (bytes[i] >= 0) {
                allocated.put(ids[i], bytes[i]);
            }
        }
        long[] wal = new long[3];
        Map<String, double[]> statements = new HashMap<>();
        if (postgres) {
            try (Connection c = DriverManager.getConnection(adminUrl, user, password); Statement s = c.createStatement()) {
                try (ResultSet rs = s.executeQuery("select wal_records, wal_bytes, wal_fpi from pg_stat_wal")) {
                    rs.next();
                    wal = new long[] {rs.getLong(1), rs.getLong(2), rs.getLong(3)};
                }
                boolean tracked;
                try (ResultSet rs = s.executeQuery("select to_regclass('pg_stat_statements') is not null")) {
                    rs.next();
                    tracked = rs.getBoolean(1);
                }
                if (tracked) {
                    try (PreparedStatement ps = c.prepareStatement("select s.query, s.calls, s.total_exec_time, s.rows, "
                            + "s.wal_bytes from pg_stat_statements s join pg_database d on d.oid = s.dbid "
                            + "where d.datname = any(?)")) {
                        ps.setArray(1, c.createArrayOf("text", databases.toArray()));
                        try (ResultSet rs = ps.executeQuery()) {
                            while (rs.next()) {
                                // Both banks run the same statements: counted together.
                                double[] v = statements.computeIfAbsent(oneLine(rs.getString(1)), q -> new double[4]);
                                v[0] += rs.getLong(2);
                                v[1] += rs.getDouble(3);
                                v[2] += rs.getLong(4);
                                v[3] += rs.getDouble(5);
                            }
                        }
                    }
                }
            } catch (SQLException e) {
                System.err.println("counts: cannot read the server's statistics: " + e.getMessage());
            }
        }
        return new Sample(allocated, ThreadCounters.of(ProcessHandle.current().pid()), ThreadCounters.of(tcPid), wal,
                statements);
    }

    private static String oneLine(String sql) {
        String flat = sql.replaceAll("\\s+", " ").strip();
        return flat.length() <= 110 ? flat : flat.substring(0, 107) + "...";
    }

    /** The lines printed for the window between {@code before} and {@code after}. */
    static String report(String driver, Sample before, Sample after, long committed) {
        double n = Math.max(1, committed);
        long allocated = 0;
        for (Map.Entry<Long, Long> e : after.allocated.entrySet()) {
            // A thread born in the window counts whole; one that ended in it is lost (the load's are read before they end).
            allocated += e.getValue() - before.allocated.getOrDefault(e.getKey(), 0L);
        }
        ThreadCounters bench = after.bench.since(before.bench);
        ThreadCounters tc = after.tc.since(before.tc);
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT,
                "{\"counts\":\"%s\",\"bench_alloc_bytes_per_tx\":%.0f,\"bench_switches_per_tx\":%.2f,"
                        + "\"tc_switches_per_tx\":%.2f,\"wal_records_per_tx\":%.2f,\"wal_bytes_per_tx\":%.0f,"
                        + "\"wal_fpi_per_tx\":%.3f}%n",
                driver, allocated / n, bench.switches() / n, tc.switches() / n, (after.wal[0] - before.wal[0]) / n,
                (after.wal[1] - before.wal[1]) / n, (after.wal[2] - before.wal[2]) / n));
        out.append(bench.perTransaction("bench", Math.max(1, committed)));
        out.append(tc.perTransaction("tc", Math.max(1, committed)));
        after.statements.entrySet().stream()
                .map(e -> {
                    double[] then = before.statements.getOrDefault(e.getKey(), new double[4]);
                    double[] d = new double[4];
                    for (int i = 0; i < 4; i++) {
                        d[i] = e.getValue()[i] - then[i];
                    }
                    return Map.entry(e.getKey(), d);
                })
                .filter(e -> e.getValue()[0] > 0)
                .sorted((a, b) -> Double.compare(b.getValue()[1], a.getValue()[1]))
                .forEach(e -> out.append(String.format(Locale.ROOT,
                        "sql calls/tx %6.3f  exec ms/tx %.4f  rows/tx %6.3f  wal B/tx %6.0f  %s%n", e.getValue()[0] / n,
                        e.getValue()[1] / n, e.getValue()[2] / n, e.getValue()[3] / n, e.getKey())));
        return out.toString();
    }
}
