package io.cohort.sample.bank;

import java.net.http.HttpClient;
import org.springframework.http.HttpStatus;
import org.springframework.http.client.JdkClientHttpRequestFactory;
import org.springframework.stereotype.Component;
import org.springframework.web.client.RestClient;
import org.springframework.web.client.RestClientResponseException;

/**
 * The other bank, over HTTP. The RestClient comes from Boot's builder, to which Cohort's TM has
 * added the interceptor that sends the current XID in the {@code Cohort-Xid} header: the other
 * bank's writes join this bank's global transaction.
 */
@Component
public class PeerBank {

    /** What the other bank's {@code POST /credits} takes. */
    public record CreditRequest(String transferId, long account, long amount, boolean fail) {
    }

    private final RestClient client;
    private final String peerName;

    public PeerBank(RestClient.Builder builder, BankProperties properties) {
        JdkClientHttpRequestFactory requests = new JdkClientHttpRequestFactory(
                HttpClient.newBuilder().connectTimeout(properties.peerTimeout()).build());
        requests.setReadTimeout(properties.peerTimeout());
        this.client = builder.baseUrl(properties.peerUrl().toString()).requestFactory(requests).build();
        this.peerName = properties.name().equals("a") ? "b" : "a";
    }

    /** Credits {@code account} in the other bank; throws when it refuses or fails. */
    public void credit(String transferId, long account, long amount, boolean fail) {
        try {
            client.post().uri("/credits").body(new CreditRequest(transferId, account, amount, fail))
                    .retrieve().toBodilessEntity();
        } catch (RestClientResponseException e) {
            if (e.getStatusCode().is4xxClientError()) {
                throw new TransferRefusedException(HttpStatus.valueOf(e.getStatusCode().value()), reason(e));
            }
            throw new PeerBankException("bank " + peerName + " failed to credit account " + account + ": "
                    + reason(e), null);
        } catch (RuntimeException e) {
            throw new PeerBankException("bank " + peerName + " did not answer: " + e.getMessage(), e);
        }
    }

    private String reason(RestClientResponseException e) {
        try {
            ErrorBody body = e.getResponseBodyAs(ErrorBody.class);
            if (body != null && body.error() != null) {
                return body.error();
            }
        } catch (RuntimeException unreadable) {
            // fall through to the status line
        }
        return "bank " + peerName + " refused the credit: " + e.getStatusCode();
    }

    /** The error body both banks send. */
    public record ErrorBody(String error) {
    }

    /** The other bank failed or did not answer; the transfer is rolled back. */
    public static class PeerBankException extends RuntimeException {
        PeerBankException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
