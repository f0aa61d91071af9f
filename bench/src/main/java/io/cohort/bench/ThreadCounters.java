package io.cohort.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Context switches and CPU of a process's threads (Linux {@code /proc/<pid>/task}), grouped by thread
 * name with its digits dropped ({@code grpc-nio-worker-ELG-3-1} and {@code -3-2} count together): how
 * often each kind of thread is woken per transaction, and what it spends.
 */
record ThreadCounters(Map<String, long[]> byGroup) {

    /** Index of voluntary + involuntary context switches in a group's counters. */
    static final int SWITCHES = 0;
    /** Index of CPU nanoseconds (schedstat's time on CPU) in a group's counters. */
    static final int CPU_NANOS = 1;

    /** Now, for every live thread of {@code pid}; empty where /proc cannot be read. */
    static ThreadCounters of(long pid) {
        Map<String, long[]> groups = new TreeMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            tasks.forEach(task -> {
                try {
                    String group = Files.readString(task.resolve("comm")).strip().replaceAll("[0-9]+", "#");
                    long switches = 0;
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches") || line.startsWith("nonvoluntary_ctxt_switches")) {
                            switches += Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
                        }
                    }
                    long cpu = Long.parseLong(Files.readString(task.resolve("schedstat")).split(" ")[0]);
                    long[] counters = groups.computeIfAbsent(group, g -> new long[2]);
                    counters[SWITCHES] += switches;
                    counters[CPU_NANOS] += cpu;
                } catch (IOException | RuntimeException threadEnded) {
                    // the thread ended while being read: it counts no more
                }
            });
        } catch (IOException | RuntimeException noProc) {
            // not Linux, or the process is gone
        }
        return new ThreadCounters(groups);
    }

    /** What each group did since {@code before} (threads that ended meanwhile are not counted). */
    ThreadCounters since(ThreadCounters before) {
        Map<String, long[]> diff = new TreeMap<>();
        byGroup.forEach((group, now) -> {
            long[] then = before.byGroup.getOrDefault(group, new long[2]);
            diff.put(group, new long[] {now[SWITCHES] - then[SWITCHES], now[CPU_NANOS] - then[CPU_NANOS]});
        });
        return new ThreadCounters(diff);
    }

    /** The JIT compilers' threads (C1 and C2 count together), whose group name this is. */
    static final String JIT_COMPILERS = "C# CompilerThre";

    /** CPU nanoseconds of one group (0 when it has no thread). */
    long cpuNanosOf(String group) {
        long[] counters = byGroup.get(group);
        return counters == null ? 0 : counters[CPU_NANOS];
    }

    long switches() {
        return byGroup.values().stream().mapToLong(c -> c[SWITCHES]).sum();
    }

    /** One line per group: context switches and CPU ms per transaction, the busiest first. */
    String perTransaction(String process, long transactions) {
        StringBuilder out = new StringBuilder();
        byGroup.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[CPU_NANOS], a.getValue()[CPU_NANOS]))
                .filter(e -> e.getValue()[SWITCHES] > 0 || e.getValue()[CPU_NANOS] > 0)
                .forEach(e -> out.append(String.format(Locale.ROOT, "%s %-40s switches/tx %7.3f  cpu ms/tx %.4f%n",
                        process, e.getKey(), (double) e.getValue()[SWITCHES] / transactions,
                        e.getValue()[CPU_NANOS] / 1e6 / transactions)));
        return out.toString();
    }
}
