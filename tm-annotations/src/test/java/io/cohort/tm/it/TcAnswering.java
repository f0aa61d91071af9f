package io.cohort.tm.it;

import io.cohort.client.TcClient;
import io.cohort.client.TcException;
import io.cohort.client.TcUnavailableException;
import io.cohort.protocol.v1.GlobalStatusCode;
import java.time.Duration;
import java.util.Set;

/** Waiting for a TC that was just started (directly or behind a proxy) to answer calls. */
final class TcAnswering {

    private TcAnswering() {
    }

    /** A TC just started on a busy machine can miss the first deadlines: waits until {@code client} gets an answer. */
    static void await(TcClient client) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            try {
                client.status("127.0.0.1:1:1");
                return;
            } catch (TcUnavailableException notYet) {
                if (System.nanoTime() > deadline) {
                    throw notYet;
                }
                Thread.sleep(50);
            } catch (TcException answered) {
                return; // unknown XID: it answers
            }
        }
    }

    /**
     * The TC answers a rollback once it is decided, and finishes phase 2 after the answer; until then the
     * transaction still counts as unfinished (against {@code cohort.tc.limits.max-active-per-application}).
     * Waits until {@code xid} has ended, as long as a call may take.
     */
    static void awaitEnded(TcClient client, String xid, Duration max) throws InterruptedException {
        Set<GlobalStatusCode> ended = Set.of(GlobalStatusCode.GLOBAL_ROLLBACKED, GlobalStatusCode.GLOBAL_COMMITTED);
        long deadline = System.nanoTime() + max.toNanos();
        GlobalStatusCode status;
        while (!ended.contains(status = client.status(xid).getStatus())) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(xid + " not ended within " + max + ": still " + status);
            }
            Thread.sleep(10);
        }
    }
}
