package io.cohort.tc.store.embedded;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;

/**
 * The child process of {@link EmbeddedStoreWriteFailureIT}, started under a file-size limit
 * ({@code ulimit -f}) so that a log write fails for real (EFBIG; the JVM ignores SIGXFSZ). It
 * writes until a write fails, prints each acknowledged step, then prints how the failed store
 * behaves ({@code FAILED}, {@code HEALTH}, {@code READ}, {@code LATER}) and closes it.
 */
public final class DiskFullWriterMain {

    public static void main(String[] args) {
        PrintStream out = System.out;
        EmbeddedStoreConfig config = new EmbeddedStoreConfig(Path.of(args[0]), 1L << 40, true, Duration.ZERO, 4096);
        EmbeddedTransactionStore store = new EmbeddedTransactionStore(config, Clock.systemUTC(), new SimpleMeterRegistry());
        String failed = null;
        for (long n = 0; failed == null; n++) {
            String xid = "full:" + n;
            long now = System.currentTimeMillis();
            try {
                store.insertGlobal(new GlobalTransaction(xid, "transfer", "full", TransactionProtocol.TWO_PHASE,
                        GlobalStatus.BEGIN, now, 60_000, "", "", now)).join();
                store.registerBranch(new Branch(xid, n, "db", "rm", List.of("account:" + n), new byte[64],
                        BranchStatus.REGISTERED, now, ""), List.of(new RowKey("db", "account", Long.toString(n)))).join();
                out.println("ACK " + xid + " 1");
                store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTED, "").join();
                out.println("ACK " + xid + " 2");
            } catch (CompletionException e) {
                failed = e.getCause().getClass().getSimpleName() + ": " + e.getCause().getMessage();
            }
        }
        out.println("FAILED " + failed);
        out.println("HEALTH " + outcome(() -> store.checkHealth()));
        out.println("READ " + outcome(() -> store.findGlobal("full:0")));
        out.println("LATER " + outcome(() -> store.transitionGlobal("full:0", GlobalStatus.COMMITTED,
                GlobalStatus.COMMITTED, "").join()));
        store.close();
        out.println("CLOSED");
    }

    private static String outcome(Runnable call) {
        try {
            call.run();
            return "ok";
        } catch (RuntimeException e) {
            Throwable cause = e instanceof CompletionException ? e.getCause() : e;
            return cause.getClass().getSimpleName() + ": " + cause.getMessage();
        }
    }
}
