package io.cohort.tm.propagation;

import io.cohort.client.TmMadeXids;
import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import java.io.IOException;
import org.springframework.http.HttpRequest;
import org.springframework.http.client.ClientHttpRequestExecution;
import org.springframework.http.client.ClientHttpRequestInterceptor;
import org.springframework.http.client.ClientHttpResponse;

/**
 * Adds {@code Cohort-Xid} to outgoing {@code RestClient} and {@code RestTemplate} requests made
 * inside a global transaction. The Boot auto-configuration registers it on every Boot-built client;
 * add it yourself to a client built without the Boot builder.
 */
public final class XidClientHttpRequestInterceptor implements ClientHttpRequestInterceptor {

    @Override
    public ClientHttpResponse intercept(HttpRequest request, byte[] body, ClientHttpRequestExecution execution)
            throws IOException {
        String xid = XidContext.current();
        if (xid != null) {
            TmMadeXids.announce(xid); // the callee's RM must find the transaction at the TC
            request.getHeaders().set(Protocol.XID_HEADER, xid);
        }
        return execution.execute(request, body);
    }
}
