package io.cohort.bench;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/**
 * Entry point of {@code cohort-bench.jar}: {@code transfer ...} runs {@link TransferBench},
 * {@code rmproxy ...} runs {@link RmProxyBench}; {@code tc ...}, or arguments without a benchmark
 * name, run {@link TcBench}. The arguments of {@code tc} and {@code transfer} are checked before
 * anything starts: a mistake is one line saying what was wrong, then the usage, and exit code 2 (so
 * is a transfer run whose connection pools the database server cannot hold);
 * {@code --help} prints the usage.
 */
public final class Bench {

    /** Exit code of a run refused for its arguments. */
    static final int BAD_ARGUMENTS = 2;

    private Bench() {
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty(
                "org.slf4j.simpleLogger.defaultLogLevel", "warn"));
        if (args.length > 0 && args[0].equals("rmproxy")) {
            RmProxyBench.main(Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        int exit = run(args, System.out, System.err);
        if (exit != 0) {
            System.exit(exit);
        }
    }

    /** Checks the arguments of {@code tc} or {@code transfer} and runs it; returns the process's exit code. */
    static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        boolean transfer = args.length > 0 && args[0].equals("transfer");
        String name = transfer ? "transfer" : "tc";
        String[] rest = args.length > 0 && (transfer || args[0].equals("tc")) ? Arrays.copyOfRange(args, 1, args.length)
                : args;
        String usage = transfer ? TransferBench.USAGE : TcBench.USAGE;
        if (List.of(rest).contains("--help") || List.of(rest).contains("-h")) {
            out.println(usage);
            return 0;
        }
        TransferBench.Options transferOptions = null;
        TcBench.Options tcOptions = null;
        try {
            BenchDatabase.named("cohort_bench"); // checks COHORT_BENCH_DB_SUFFIX before anything starts
            if (transfer) {
                transferOptions = TransferBench.Options.parse(rest);
            } else {
                tcOptions = TcBench.Options.parse(rest);
            }
        } catch (IllegalArgumentException e) {
            err.println("cohort-bench " + name + ": " + e.getMessage().replaceAll("[\\r\\n]+", " "));
            err.println(usage);
            return BAD_ARGUMENTS;
        }
        if (transfer) {
            try {
                TransferBench.run(transferOptions);
            } catch (TransferBench.SetupException e) {
                err.println("cohort-bench transfer: " + e.getMessage());
                return BAD_ARGUMENTS;
            }
        } else {
            TcBench.run(tcOptions);
        }
        return 0;
    }
}
