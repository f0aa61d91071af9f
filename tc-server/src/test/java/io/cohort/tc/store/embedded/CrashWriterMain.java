package io.cohort.tc.store.embedded;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.store.RegisterResult;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;

/**
 * The child process of {@link EmbeddedStoreCrashIT}: runs bank-transfer-like transactions on
 * several threads against the store in {@code args[0]} until it is killed, printing one
 * {@code ACK <xid> <step>} line per write <em>after</em> that write's future completed (durable).
 * Steps: 1 branch registered, 2 COMMITTING, 3 branch committed, 4 COMMITTED, 5 locks released.
 * A small compaction threshold makes kills land during compactions too.
 */
public final class CrashWriterMain {

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        String prefix = args[1];
        int threads = Integer.parseInt(args[2]);
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, "UTF-8");
        EmbeddedStoreConfig config = new EmbeddedStoreConfig(dir, 64 * 1024, true, Duration.ZERO, 4096);
        EmbeddedTransactionStore store = new EmbeddedTransactionStore(config, Clock.systemUTC(), new SimpleMeterRegistry());
        synchronized (out) {
            out.println("READY");
            out.flush();
        }
        for (int t = 0; t < threads; t++) {
            int thread = t;
            Thread worker = new Thread(() -> {
                for (long n = 0; ; n++) {
                    String xid = prefix + "-" + thread + ":" + n;
                    long now = System.currentTimeMillis();
                    store.insertGlobal(new GlobalTransaction(xid, "transfer", "crash", TransactionProtocol.TWO_PHASE,
                            GlobalStatus.BEGIN, now, 60_000, "", "", now)).join();
                    Branch branch = new Branch(xid, n, "db", "rm", List.of("account:" + xid), new byte[] {1},
                            BranchStatus.REGISTERED, now, "");
                    RegisterResult r = store.registerBranch(branch, List.of(new RowKey("db", "account", xid))).join();
                    if (!(r instanceof RegisterResult.Registered)) {
                        throw new IllegalStateException("unexpected " + r);
                    }
                    ack(out, xid, 1);
                    store.transitionGlobal(xid, GlobalStatus.BEGIN, GlobalStatus.COMMITTING, "").join();
                    ack(out, xid, 2);
                    store.updateBranch(xid, n, BranchStatus.PHASE2_COMMITTED, "").join();
                    ack(out, xid, 3);
                    store.transitionGlobal(xid, GlobalStatus.COMMITTING, GlobalStatus.COMMITTED, "").join();
                    ack(out, xid, 4);
                    store.releaseLocks(xid).join();
                    ack(out, xid, 5);
                }
            }, "crash-writer-" + t);
            worker.start();
        }
        Thread.sleep(Long.MAX_VALUE);
    }

    private static void ack(PrintStream out, String xid, int step) {
        synchronized (out) {
            out.println("ACK " + xid + " " + step);
            out.flush();
        }
    }
}
