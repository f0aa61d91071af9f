package io.cohort.sample.bank.demo;

import java.time.Duration;
import java.util.Map;
import org.springframework.web.client.RestClient;

/** What the demo and the tests read from the TC's REST API: unfinished transactions and held locks. */
public final class TcApi {

    /** Every status that is not a final one: the transaction still has work to do (or waits for a person). */
    public static final String UNFINISHED = "BEGIN,COMMITTING,COMMIT_RETRYING,ASYNC_COMMITTING,ROLLBACKING,"
            + "ROLLBACK_RETRYING,TIMEOUT_ROLLBACKING,TIMEOUT_ROLLBACK_RETRYING,PRE_COMMITTING,PRE_COMMITTED,"
            + "COMMIT_FAILED,ROLLBACK_FAILED";

    private final RestClient http;

    public TcApi(String baseUrl) {
        this.http = RestClient.create(baseUrl);
    }

    public long unfinished() {
        return total("/api/v1/transactions?size=1&status=" + UNFINISHED);
    }

    public long count(String statuses) {
        return total("/api/v1/transactions?size=1&status=" + statuses);
    }

    public long locks() {
        return total("/api/v1/locks?size=1");
    }

    /** The raw JSON of some unfinished transactions, for a failure message. */
    public String unfinishedSample() {
        return http.get().uri("/api/v1/transactions?size=20&status=" + UNFINISHED).retrieve().body(String.class);
    }

    private long total(String uri) {
        Map<?, ?> page = http.get().uri(uri).retrieve().body(Map.class);
        return ((Number) page.get("total")).longValue();
    }

    /** Waits until no transaction is unfinished and no lock is held; false if that takes longer than {@code timeout}. */
    public boolean awaitSettled(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                if (unfinished() == 0 && locks() == 0) {
                    return true;
                }
            } catch (RuntimeException e) {
                // the TC is restarting
            }
            ChildProcess.sleep(200);
        }
        return false;
    }
}
