package io.cohort.tc.rpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.tc.support.WarningThrottle;
import io.grpc.ForwardingServerCallListener;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.io.InputStream;
import java.time.Clock;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers a request that is not a valid protobuf message with INVALID_ARGUMENT and the
 * {@code cohort-error-code} trailer, and a throttled one-line warning. Left to gRPC, the parse
 * failure escapes the call and is logged as an error with its whole stack trace, for every such
 * request: a few bytes from anyone who can connect would fill the log.
 */
final class MalformedRequestGuard {

    private static final Logger log = LoggerFactory.getLogger(MalformedRequestGuard.class);

    private final WarningThrottle warnings;

    MalformedRequestGuard(Clock clock) {
        this.warnings = new WarningThrottle(log, "malformed request", 20, Duration.ofSeconds(10), clock);
    }

    ServerServiceDefinition guard(ServerServiceDefinition service) {
        ServerServiceDefinition.Builder guarded = ServerServiceDefinition.builder(service.getServiceDescriptor().getName());
        for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
            guarded.addMethod(guard(method));
        }
        return guarded.build();
    }

    private <Q, R> ServerMethodDefinition<Q, R> guard(ServerMethodDefinition<Q, R> method) {
        MethodDescriptor<Q, R> descriptor = method.getMethodDescriptor();
        MethodDescriptor.Marshaller<Q> parser = descriptor.getRequestMarshaller();
        // The marshaller cannot fail a call, so a request that does not parse becomes this one object, seen below.
        Q malformed = malformedMarker(parser);
        MethodDescriptor.Marshaller<Q> tolerant = new MethodDescriptor.Marshaller<>() {
            @Override
            public InputStream stream(Q value) {
                return parser.stream(value);
            }

            @Override
            public Q parse(InputStream stream) {
                try {
                    return parser.parse(stream);
                } catch (RuntimeException e) {
                    warnings.warn("Refused a request to {} that is not a valid protobuf message: {}",
                            descriptor.getFullMethodName(), rootMessage(e));
                    return malformed;
                }
            }
        };
        ServerCallHandler<Q, R> handler = method.getServerCallHandler();
        ServerCallHandler<Q, R> guardedHandler = (call, headers) -> {
            ServerCall.Listener<Q> next = handler.startCall(call, headers);
            return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next) {
                private boolean refused;

                @Override
                public void onMessage(Q message) {
                    if (refused) {
                        return;
                    }
                    if (message == malformed) {
                        refused = true;
                        call.close(Status.INVALID_ARGUMENT.withDescription("The request is not a valid "
                                        + descriptor.getFullMethodName() + " message (malformed protobuf); send one "
                                        + "built from cohort.proto"),
                                CoordinatorGrpcService.trailer(ErrorCode.INVALID_REQUEST));
                        return;
                    }
                    super.onMessage(message);
                }

                @Override
                public void onHalfClose() {
                    if (!refused) {
                        super.onHalfClose();
                    }
                }
            };
        };
        return ServerMethodDefinition.create(descriptor.toBuilder().setRequestMarshaller(tolerant).build(), guardedHandler);
    }

    @SuppressWarnings("unchecked")
    private static <Q> Q malformedMarker(MethodDescriptor.Marshaller<Q> parser) {
        if (parser instanceof MethodDescriptor.PrototypeMarshaller<Q> prototype
                && prototype.getMessagePrototype() instanceof Message message) {
            // A distinct instance, compared by identity only: never the default instance a valid empty request parses to.
            Message marker = message.toBuilder().setUnknownFields(UnknownFieldSet.newBuilder().build()).build();
            if (marker == message) {
                throw new IllegalStateException("cannot make a distinct marker for " + message.getDescriptorForType());
            }
            return (Q) marker;
        }
        throw new IllegalStateException("gRPC methods of the TC are expected to use protobuf marshallers");
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && !(t instanceof InvalidProtocolBufferException)) {
            t = t.getCause();
        }
        return String.valueOf(t.getMessage());
    }
}
