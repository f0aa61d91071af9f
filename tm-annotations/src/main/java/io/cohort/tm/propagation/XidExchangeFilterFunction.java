package io.cohort.tm.propagation;

import io.cohort.client.TmMadeXids;
import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import org.springframework.web.reactive.function.client.ClientRequest;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.ExchangeFilterFunction;
import org.springframework.web.reactive.function.client.ExchangeFunction;
import reactor.core.publisher.Mono;

/**
 * Adds {@code Cohort-Xid} to outgoing {@code WebClient} requests.
 *
 * <p>A filter runs when the request is subscribed to, which is on the calling thread for
 * {@code .block()} but may be another thread in a reactive chain. So the request attribute
 * {@link #XID_ATTRIBUTE} wins when set: {@code webClient.get().uri(..).attribute(XID_ATTRIBUTE,
 * XidContext.current())} captures the XID where the request is built. Otherwise the XID bound to
 * the subscribing thread is used.
 */
public final class XidExchangeFilterFunction implements ExchangeFilterFunction {

    public static final String XID_ATTRIBUTE = XidExchangeFilterFunction.class.getName() + ".XID";

    @Override
    public Mono<ClientResponse> filter(ClientRequest request, ExchangeFunction next) {
        Object xid = request.attribute(XID_ATTRIBUTE).orElseGet(XidContext::current);
        if (xid == null) {
            return next.exchange(request);
        }
        // The callee's RM must find the transaction at the TC: a TM-made XID not yet announced costs one
        // blocking call here, once per transaction (none once a branch of it registered).
        TmMadeXids.announce(xid.toString());
        return next.exchange(ClientRequest.from(request).header(Protocol.XID_HEADER, xid.toString()).build());
    }
}
