package io.cohort.tm.propagation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import io.cohort.protocol.v1.GlobalRequest;
import io.cohort.protocol.v1.GlobalStatusResponse;
import io.cohort.protocol.v1.TransactionCoordinatorGrpc;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The XID crosses a gRPC call in metadata and is bound on the server only while the call runs. */
class XidGrpcInterceptorsTest {

    /** A service that answers with the XID bound to the thread that runs it. */
    static final class EchoXid extends TransactionCoordinatorGrpc.TransactionCoordinatorImplBase {
        @Override
        public void getStatus(GlobalRequest request, StreamObserver<GlobalStatusResponse> response) {
            String xid = XidContext.current();
            response.onNext(GlobalStatusResponse.newBuilder().setReason(xid == null ? "<none>" : xid).build());
            response.onCompleted();
        }
    }

    private final ExecutorService serverThread = Executors.newSingleThreadExecutor();
    private Server server;
    private ManagedChannel channel;
    private TransactionCoordinatorGrpc.TransactionCoordinatorBlockingStub stub;

    @BeforeEach
    void start() throws Exception {
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).executor(serverThread)
                .addService(ServerInterceptors.intercept(new EchoXid(), new XidGrpcServerInterceptor()))
                .build().start();
        channel = InProcessChannelBuilder.forName(name).build();
        stub = TransactionCoordinatorGrpc.newBlockingStub(ClientInterceptors.intercept(channel, new XidGrpcClientInterceptor()));
    }

    @AfterEach
    void stop() throws InterruptedException {
        channel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        serverThread.shutdownNow();
    }

    @Test
    void shouldCarryTheBoundXidToTheServerAndUnbindItAfterTheCall() throws Exception {
        String seen = XidContext.runWith("10.0.0.5:8091:42",
                () -> stub.getStatus(GlobalRequest.getDefaultInstance()).getReason());

        assertThat(seen).isEqualTo("10.0.0.5:8091:42");
        assertThat(serverThread.submit(XidContext::current).get()).as("server thread after the call").isNull();
    }

    @Test
    void shouldSendNothingOutsideAGlobalTransaction() {
        assertThat(stub.getStatus(GlobalRequest.getDefaultInstance()).getReason()).isEqualTo("<none>");
    }

    @Test
    void aCallWithoutXidShouldNotSeeTheXidOfThePreviousCallOnTheSameThread() {
        XidContext.runWith("10.0.0.5:8091:1", () -> stub.getStatus(GlobalRequest.getDefaultInstance()));

        assertThat(stub.getStatus(GlobalRequest.getDefaultInstance()).getReason()).isEqualTo("<none>");
    }

    @Test
    void shouldRefuseAMalformedXidWithInvalidArgument() {
        Metadata headers = new Metadata();
        headers.put(Protocol.XID_METADATA, "not-an-xid");
        TransactionCoordinatorGrpc.TransactionCoordinatorBlockingStub raw = TransactionCoordinatorGrpc.newBlockingStub(channel)
                .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));

        assertThatThrownBy(() -> raw.getStatus(GlobalRequest.getDefaultInstance()))
                .isInstanceOf(StatusRuntimeException.class)
                .satisfies(e -> assertThat(((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT))
                .hasMessageContaining("not-an-xid");
    }
}
