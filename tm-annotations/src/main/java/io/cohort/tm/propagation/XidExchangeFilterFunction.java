package io.cohort.tm.propagation;

import io.cohort.client.TmMadeXids;
import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import org.springframework.web.reactive.function.client.ClientRequest;
import org.springframework.web.reactive.function.client.ClientResponse;
import org.springframework.web.reactive.function.client.ExchangeFilterFunction;
import org.springframework.web.reactive.function.client.ExchangeFunction;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Adds {@code Cohort-Xid} to outgoing {@code WebClient} requests.
 *
 * <p>A filter runs when the request is subscribed to, which is on the calling thread for
 * {@code .block()} but may be another thread in a reactive chain. So the request attribute
 * {@link #XID_ATTRIBUTE} wins when set: {@code webClient.get().uri(..).attribute(XID_ATTRIBUTE,
 * XidContext.current())} captures the XID where the request is built. Otherwise the XID bound to
 * the subscribing thread is used.
 *
 * <p>A TM-made XID the TC has not heard of yet is announced to it before the request is sent
 * ({@link TmMadeXids#announceAsync}), without blocking the subscribing thread.
 */
public final class XidExchangeFilterFunction implements ExchangeFilterFunction {

    public static final String XID_ATTRIBUTE = XidExchangeFilterFunction.class.getName() + ".XID";

    @Override
    public Mono<ClientResponse> filter(ClientRequest request, ExchangeFunction next) {
        Object xid = request.attribute(XID_ATTRIBUTE).orElseGet(XidContext::current);
        if (xid == null) {
            return next.exchange(request);
        }
        String value = xid.toString();
        ClientRequest withXid = ClientRequest.from(request).header(Protocol.XID_HEADER, value).build();
        if (!TmMadeXids.needsAnnouncing(value)) {
            return next.exchange(withXid);
        }
        // The callee's RM must find the transaction at the TC: a TM-made XID not yet announced costs one
        // call to the TC, once per transaction, made without blocking the subscribing thread (it may be an
        // event loop). The request is sent only once the TC answered; a refusal fails the exchange with
        // the TC's error and sends nothing. The answer arrives on a gRPC thread: the exchange goes on
        // from a Reactor thread instead.
        return Mono.fromFuture(() -> TmMadeXids.announceAsync(value))
                .publishOn(Schedulers.parallel())
                .then(Mono.defer(() -> next.exchange(withXid)));
    }
}
