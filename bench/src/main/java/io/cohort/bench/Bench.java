package io.cohort.bench;

import java.util.Arrays;

/**
 * Entry point of {@code cohort-bench.jar}: {@code transfer ...} runs {@link TransferBench},
 * {@code rmproxy ...} runs {@link RmProxyBench}; {@code tc ...}, or arguments without a benchmark
 * name, run {@link TcBench}.
 */
public final class Bench {

    private Bench() {
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty(
                "org.slf4j.simpleLogger.defaultLogLevel", "warn"));
        if (args.length > 0 && args[0].equals("transfer")) {
            TransferBench.main(Arrays.copyOfRange(args, 1, args.length));
        } else if (args.length > 0 && args[0].equals("rmproxy")) {
            RmProxyBench.main(Arrays.copyOfRange(args, 1, args.length));
        } else if (args.length > 0 && args[0].equals("tc")) {
            TcBench.main(Arrays.copyOfRange(args, 1, args.length));
        } else {
            TcBench.main(args);
        }
    }
}
