package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Metadata;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.tracing.handler.DefaultTracingObservationHandler;
import io.micrometer.tracing.handler.PropagatingReceiverTracingObservationHandler;
import io.micrometer.tracing.handler.PropagatingSenderTracingObservationHandler;
import io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext;
import io.micrometer.tracing.otel.bridge.OtelPropagator;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A call to the TC is a span of the caller's trace, and the TC hears of it: W3C {@code traceparent}
 * in the gRPC metadata naming that span. Real gRPC to a real server; a real tracer (OpenTelemetry
 * through Micrometer's bridge, as Boot wires it) with its spans kept in memory.
 */
class TcClientTracingTest {

    private static final Metadata.Key<String> TRACEPARENT =
            Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);

    private final InMemorySpanExporter exported = InMemorySpanExporter.create();
    private SdkTracerProvider provider;
    private TestTcServer server;

    @BeforeEach
    void start() {
        server = TestTcServer.start();
        provider = SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exported)).build();
    }

    @AfterEach
    void stop() {
        server.close();
        provider.close();
    }

    /**
     * A call timeout far above the default 5 s: the first call loads and compiles the whole gRPC and
     * tracing path, which on a loaded machine took longer than that; timeouts are not what is tested here.
     */
    private TcClientConfig config() {
        return new TcClientConfig(server.address(), "app", "", Duration.ofSeconds(60), 3, Duration.ofMillis(100));
    }

    private ObservationRegistry tracingRegistry() {
        OpenTelemetrySdk otel = OpenTelemetrySdk.builder().setTracerProvider(provider)
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance())).build();
        io.opentelemetry.api.trace.Tracer otelTracer = otel.getTracer("test");
        OtelTracer tracer = new OtelTracer(otelTracer, new OtelCurrentTraceContext(), event -> {
        });
        OtelPropagator propagator = new OtelPropagator(otel.getPropagators(), otelTracer);
        ObservationRegistry registry = ObservationRegistry.create();
        registry.observationConfig().observationHandler(new ObservationHandler.FirstMatchingCompositeObservationHandler(
                new PropagatingSenderTracingObservationHandler<>(tracer, propagator),
                new PropagatingReceiverTracingObservationHandler<>(tracer, propagator),
                new DefaultTracingObservationHandler(tracer)));
        return registry;
    }

    @Test
    void beginIsASpanWhoseContextTheTcReceivesInTraceparent() {
        try (TcClient client = new TcClient(config(), tracingRegistry())) {
            String xid = client.begin("transfer", Duration.ofSeconds(10), null);

            List<SpanData> spans = exported.getFinishedSpanItems();
            assertThat(spans).hasSize(1);
            SpanData span = spans.get(0);
            assertThat(span.getName()).isEqualTo("cohort begin");
            assertThat(span.getAttributes().get(AttributeKey.stringKey("cohort.operation"))).isEqualTo("begin");
            assertThat(span.getAttributes().get(AttributeKey.stringKey("cohort.xid"))).isEqualTo(xid);
            assertThat(server.lastHeaders().get(TRACEPARENT))
                    .isEqualTo("00-" + span.getTraceId() + "-" + span.getSpanId() + "-01");
        }
    }

    /** On the Calls stream the trace travels per frame: the headers of the call's own observation, none outside one. */
    @Test
    void theTraceHeadersOfTheCallInScopeAreWhatAFrameCarries() {
        TcCallTracing tracing = new TcCallTracing(tracingRegistry());
        assertThat(tracing.currentHeaders()).isEmpty();
        java.util.Map<String, String> inCall = tracing.observe("commit", "x:1", tracing::currentHeaders);
        SpanData span = exported.getFinishedSpanItems().get(0);
        assertThat(inCall).containsEntry("traceparent", "00-" + span.getTraceId() + "-" + span.getSpanId() + "-01");
    }

    @Test
    void withoutATracerNothingIsSentButTheRequest() {
        try (TcClient client = new TcClient(config())) {
            client.begin("transfer", Duration.ofSeconds(10), null);

            assertThat(client.observations().isNoop()).isTrue();
            assertThat(server.lastHeaders().get(TRACEPARENT)).isNull();
            assertThat(exported.getFinishedSpanItems()).isEmpty();
        }
    }
}
