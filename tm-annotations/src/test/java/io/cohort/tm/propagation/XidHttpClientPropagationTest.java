package io.cohort.tm.propagation;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.XidContext;
import java.net.URI;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.springframework.http.HttpMethod;
import org.springframework.http.HttpStatus;
import org.springframework.web.reactive.function.client.ClientRequest;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.ExchangeFunction;
import reactor.core.publisher.Mono;

/** The WebClient filter (RestClient/RestTemplate are covered end to end by TwoServicesIT). */
class XidHttpClientPropagationTest {

    private final AtomicReference<ClientRequest> sent = new AtomicReference<>();
    private final ExchangeFunction recorder = request -> {
        sent.set(request);
        return Mono.just(ClientResponse.create(HttpStatus.OK).build());
    };
    private final XidExchangeFilterFunction filter = new XidExchangeFilterFunction();

    private ClientRequest.Builder request() {
        return ClientRequest.create(HttpMethod.POST, URI.create("http://callee/credit"));
    }

    @Test
    void webClientFilterShouldAddTheBoundXid() {
        XidContext.runWith("10.0.0.5:8091:3", () -> filter.filter(request().build(), recorder).block());

        assertThat(sent.get().headers().getFirst("Cohort-Xid")).isEqualTo("10.0.0.5:8091:3");
    }

    @Test
    void webClientFilterShouldPreferTheXidCapturedAsARequestAttribute() {
        filter.filter(request().attribute(XidExchangeFilterFunction.XID_ATTRIBUTE, "10.0.0.5:8091:4").build(), recorder).block();

        assertThat(sent.get().headers().getFirst("Cohort-Xid")).isEqualTo("10.0.0.5:8091:4");
    }

    @Test
    void webClientFilterShouldAddNothingOutsideAGlobalTransaction() {
        filter.filter(request().build(), recorder).block();

        assertThat(sent.get().headers().containsHeader("Cohort-Xid")).isFalse();
    }
}
