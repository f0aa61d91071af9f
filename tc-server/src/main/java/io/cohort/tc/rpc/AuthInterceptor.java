package io.cohort.tc.rpc;

import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.ErrorCode;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/** Requires {@code authorization: Bearer <token>} on every call when a token is configured. */
final class AuthInterceptor implements ServerInterceptor {

    private final byte[] expected;

    AuthInterceptor(String token) {
        this.expected = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        String presented = headers.get(Protocol.AUTHORIZATION);
        if (presented == null || !MessageDigest.isEqual(expected, presented.getBytes(StandardCharsets.UTF_8))) {
            call.close(Status.UNAUTHENTICATED.withDescription("This TC requires a bearer token: set cohort.tc.auth-token "
                    + "on the client to the TC's cohort.tc.auth.token"), CoordinatorGrpcService.trailer(ErrorCode.UNAUTHENTICATED));
            return new ServerCall.Listener<>() {
            };
        }
        return next.startCall(call, headers);
    }
}
