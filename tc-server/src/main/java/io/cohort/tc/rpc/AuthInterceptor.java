package io.cohort.tc.rpc;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.tc.support.WarningThrottle;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Requires {@code authorization: Bearer <token>} on every call when a token is configured; logs each refusal (throttled). */
final class AuthInterceptor implements ServerInterceptor {

    private static final Logger log = LoggerFactory.getLogger("io.cohort.tc.audit");

    private final byte[] expected;
    private final WarningThrottle failures;

    AuthInterceptor(String token, Clock clock) {
        this.expected = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
        this.failures = new WarningThrottle(log, "refused gRPC call", 20, Duration.ofSeconds(10), clock);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        String presented = headers.get(Protocol.AUTHORIZATION);
        if (presented == null || !MessageDigest.isEqual(expected, presented.getBytes(StandardCharsets.UTF_8))) {
            failures.warn("Authentication failed: gRPC {} from {} with {}", call.getMethodDescriptor().getFullMethodName(),
                    call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR),
                    presented == null ? "no bearer token" : "a wrong or malformed bearer token");
            call.close(Status.UNAUTHENTICATED.withDescription("This TC requires a bearer token: set cohort.tc.auth-token "
                    + "on the client to the TC's cohort.tc.auth.token"), CoordinatorGrpcService.trailer(ErrorCode.UNAUTHENTICATED));
            return new ServerCall.Listener<>() {
            };
        }
        return next.startCall(call, headers);
    }
}
