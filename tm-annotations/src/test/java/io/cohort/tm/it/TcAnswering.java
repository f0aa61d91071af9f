package io.cohort.tm.it;

import io.cohort.client.TcClient;
import io.cohort.client.TcException;
import io.cohort.client.TcUnavailableException;
import io.cohort.protocol.GlobalStatus;
import java.time.Duration;

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
     * Waits until the TC stops driving {@code xid} (final, or waiting for a person), as long as
     * {@code max}, and returns its status then. The TC answers a commit or rollback once it is
     * decided and finishes phase 2 after the answer; until then the transaction still counts as
     * unfinished (against {@code cohort.tc.limits.max-active-per-application}).
     */
    static GlobalStatus awaitEnded(TcClient client, String xid, Duration max) throws InterruptedException {
        long deadline = System.nanoTime() + max.toNanos();
        GlobalStatus status = GlobalStatus.fromWire(client.status(xid).getStatus());
        while (!status.isEnded() && System.nanoTime() < deadline) {
            Thread.sleep(10);
            status = GlobalStatus.fromWire(client.status(xid).getStatus());
        }
        return status;
    }
}
