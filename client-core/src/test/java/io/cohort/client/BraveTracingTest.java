package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.autoconfigure.CohortTcAutoConfiguration;
import io.grpc.Metadata;
import io.micrometer.tracing.exporter.FinishedSpan;
import io.micrometer.tracing.exporter.SpanReporter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.micrometer.observation.autoconfigure.ObservationAutoConfiguration;
import org.springframework.boot.micrometer.tracing.autoconfigure.MicrometerTracingAutoConfiguration;
import org.springframework.boot.micrometer.tracing.brave.autoconfigure.BraveAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * Boot's Brave bridge picks Cohort's spans up with no code, as the OpenTelemetry one does
 * ({@link TcClientTracingTest}): Boot's own auto-configuration (observation, tracing, Brave) and
 * Cohort's, a {@link SpanReporter} that Boot hands every finished Brave span, and a call to a real
 * gRPC server.
 */
class BraveTracingTest {

    private static final Metadata.Key<String> TRACEPARENT =
            Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);

    @Test
    void withBootsBraveBridgeACallToTheTcIsASpanWithTheXidAndTheTcReceivesItInTraceparent() {
        List<FinishedSpan> finished = new CopyOnWriteArrayList<>();
        SpanReporter keep = finished::add;
        try (TestTcServer server = TestTcServer.start()) {
            new ApplicationContextRunner()
                    .withConfiguration(AutoConfigurations.of(ObservationAutoConfiguration.class,
                            BraveAutoConfiguration.class, MicrometerTracingAutoConfiguration.class,
                            CohortTcAutoConfiguration.class))
                    .withPropertyValues("spring.application.name=orders", "cohort.tc.address=" + server.address(),
                            "cohort.tc.call-timeout=60s", "management.tracing.sampling.probability=1.0")
                    .withBean(SpanReporter.class, () -> keep)
                    .run(context -> {
                        assertThat(context).hasNotFailed();
                        String xid = context.getBean(TcClient.class).begin("transfer", Duration.ofSeconds(10), null);

                        assertThat(finished).hasSize(1);
                        FinishedSpan span = finished.get(0);
                        assertThat(span.getClass().getName()).as("a Brave span").contains("Brave");
                        assertThat(span.getName()).isEqualTo("cohort begin");
                        assertThat(span.getTags()).containsEntry("cohort.xid", xid)
                                .containsEntry("cohort.operation", "begin");
                        // Boot's default propagation is W3C, with Brave too: the TC joins the caller's trace.
                        assertThat(server.lastHeaders().get(TRACEPARENT))
                                .isEqualTo("00-" + span.getTraceId() + "-" + span.getSpanId() + "-01");
                    });
        }
    }
}
