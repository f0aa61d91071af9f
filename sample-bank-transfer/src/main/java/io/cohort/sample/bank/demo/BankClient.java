package io.cohort.sample.bank.demo;

import io.cohort.sample.bank.BankController.Total;
import io.cohort.sample.bank.BankController.TransferRequest;
import io.cohort.sample.bank.BankController.TransferResult;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import org.springframework.core.ParameterizedTypeReference;
import org.springframework.http.ResponseEntity;
import org.springframework.http.client.JdkClientHttpRequestFactory;
import org.springframework.web.client.RestClient;

/** A bank's HTTP API as the demo (and the tests) call it — what you would do with curl. */
public final class BankClient {

    /** An account as {@code GET /accounts} shows it. */
    public record AccountView(long id, String owner, long balance) {
    }

    private final String name;
    private final RestClient http;

    public BankClient(String name, String baseUrl, Duration timeout) {
        this.name = name;
        JdkClientHttpRequestFactory requests = new JdkClientHttpRequestFactory(
                HttpClient.newBuilder().connectTimeout(timeout).build());
        requests.setReadTimeout(timeout);
        this.http = RestClient.builder().baseUrl(baseUrl).requestFactory(requests).build();
    }

    public String name() {
        return name;
    }

    /**
     * {@code POST /transfers}. Never throws: an error answer is returned as it came, and no answer at
     * all (timeout, bank down) is status {@code UNKNOWN} — the client cannot know what happened.
     */
    public TransferResult transfer(String id, long from, long to, long amount, boolean failInPeer) {
        try {
            ResponseEntity<TransferResult> r = http.post().uri("/transfers")
                    .body(new TransferRequest(id, from, to, amount, failInPeer))
                    .retrieve().onStatus(s -> true, (req, res) -> { }).toEntity(TransferResult.class);
            TransferResult body = r.getBody();
            if (body == null || body.status() == null) {
                return new TransferResult(id, "UNKNOWN", null, "HTTP " + r.getStatusCode().value() + " without a result");
            }
            return body;
        } catch (RuntimeException e) {
            return new TransferResult(id, "UNKNOWN", null, "no answer from bank " + name + ": " + e.getMessage());
        }
    }

    public List<AccountView> accounts() {
        return http.get().uri("/accounts").retrieve().body(new ParameterizedTypeReference<List<AccountView>>() { });
    }

    public Total total() {
        return http.get().uri("/total").retrieve().body(Total.class);
    }
}
