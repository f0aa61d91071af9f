package io.cohort.tc.rpc;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.tc.config.TcProperties;
import io.cohort.tc.support.LogText;
import io.cohort.tc.support.WarningThrottle;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Establishes the {@link Caller} of every gRPC call when authentication is on, and refuses a call
 * that proves no identity; logs each refusal (throttled). A call is accepted with the shared
 * client token ({@code cohort.tc.auth.token}: any resource), a service's own token, or a TLS client
 * certificate whose CN or a DNS name is a service's name ({@code cohort.tc.auth.clients}). A
 * certificate and a token naming two different services are refused.
 */
final class AuthInterceptor implements ServerInterceptor {

    private static final Logger log = LoggerFactory.getLogger("io.cohort.tc.audit");

    /** Bearer header values with the caller each proves; compared in constant time. */
    private final Map<byte[], Caller> tokens = new LinkedHashMap<>();
    private final Map<String, Caller> services = new LinkedHashMap<>();
    private final WarningThrottle failures;

    AuthInterceptor(TcProperties.Auth auth, Clock clock) {
        if (!auth.token().isEmpty()) {
            tokens.put(bearer(auth.token()), Caller.ANY);
        }
        auth.clients().forEach((name, client) -> {
            Caller caller = Caller.restricted(name, client.resources());
            services.put(name, caller);
            if (!client.token().isEmpty()) {
                tokens.put(bearer(client.token()), caller);
            }
        });
        this.failures = new WarningThrottle(log, "refused gRPC call", 20, Duration.ofSeconds(10), clock);
    }

    private static byte[] bearer(String token) {
        return ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        String presented = headers.get(Protocol.AUTHORIZATION);
        Caller byToken = presented == null ? null : byToken(presented.getBytes(StandardCharsets.UTF_8));
        List<String> certificateNames = certificateNames(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION));
        Caller byCertificate = certificateNames.stream().map(services::get).filter(c -> c != null).findFirst().orElse(null);
        if (byCertificate != null && byToken != null && byToken != Caller.ANY && byToken != byCertificate) {
            return refuse(call, "the token of service " + byToken.name() + " with the certificate of " + byCertificate.name(),
                    "the bearer token and the client certificate name two different services; send the token of the "
                            + "certificate's service, or none");
        }
        Caller caller = byCertificate != null ? byCertificate : byToken;
        if (caller == null) {
            String what = presented == null ? "no bearer token" : "a wrong or malformed bearer token";
            return refuse(call, certificateNames.isEmpty() ? what
                            : what + " and a certificate for " + LogText.safe(String.join(", ", certificateNames)),
                    "This TC requires a bearer token: set cohort.tc.auth-token on the client to the TC's cohort.tc.auth.token"
                            + (services.isEmpty() ? "" : " or to the service's cohort.tc.auth.clients.<name>.token, or "
                            + "present a client certificate whose CN is the service's name"));
        }
        return Contexts.interceptCall(Context.current().withValue(Caller.KEY, caller), call, headers, next);
    }

    private Caller byToken(byte[] presented) {
        Caller found = null;
        for (Map.Entry<byte[], Caller> token : tokens.entrySet()) {
            if (MessageDigest.isEqual(token.getKey(), presented)) {
                found = token.getValue(); // no early exit: the time taken does not tell which token came close
            }
        }
        return found;
    }

    private <Q, R> ServerCall.Listener<Q> refuse(ServerCall<Q, R> call, String presented, String why) {
        failures.warn("Authentication failed: gRPC {} from {} with {}", call.getMethodDescriptor().getFullMethodName(),
                call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR), presented);
        call.close(Status.UNAUTHENTICATED.withDescription(why), CoordinatorGrpcService.trailer(ErrorCode.UNAUTHENTICATED));
        return new ServerCall.Listener<>() {
        };
    }

    /** The CN and the DNS names of the verified client certificate, if the peer presented one. */
    static List<String> certificateNames(SSLSession session) {
        List<String> names = new ArrayList<>();
        if (session == null) {
            return names;
        }
        Certificate[] chain;
        try {
            chain = session.getPeerCertificates();
        } catch (SSLPeerUnverifiedException none) {
            return names;
        }
        if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
            return names;
        }
        try {
            for (Rdn rdn : new LdapName(leaf.getSubjectX500Principal().getName()).getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    names.add(String.valueOf(rdn.getValue()));
                }
            }
        } catch (InvalidNameException e) {
            // No usable subject: the DNS names may still name the service.
        }
        try {
            if (leaf.getSubjectAlternativeNames() != null) {
                for (List<?> san : leaf.getSubjectAlternativeNames()) {
                    if (Integer.valueOf(2).equals(san.get(0))) { // dNSName
                        names.add(String.valueOf(san.get(1)));
                    }
                }
            }
        } catch (CertificateParsingException e) {
            // Malformed extension: only the CN counts.
        }
        return names;
    }
}
