package io.cohort.tc.support;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.Context;
import io.grpc.Metadata;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The TC observes a request only when its caller's trace is sampled: untraced calls cost no span, timer or scope. */
class TcObservationsTest {

    private final List<String> started = new ArrayList<>();
    private final TcObservations observations = new TcObservations(registry());

    @Test
    void aRequestWhoseCallerSampledItsTraceIsObserved() {
        Observation o = observations.request("commit", "10.0.0.1:8091:7",
                headers("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        assertThat(o).isNotSameAs(Observation.NOOP);
        o.stop();
        assertThat(started).containsExactly("cohort.tc commit");
        assertThat(TcObservations.sampledCaller(headers("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")))
                .isTrue();
        assertThat(TcObservations.sampledCaller(headers("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"))).isTrue();
    }

    @Test
    void aFrameOfTheCallsStreamIsObservedByItsOwnTraceHeaders() throws Exception {
        Context sampled = observations.withTraceHeaders(Context.ROOT,
                Map.of("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "other", "x"));
        Observation o = sampled.call(() -> observations.request("commit", "10.0.0.1:8091:11"));
        assertThat(o).isNotSameAs(Observation.NOOP);
        o.stop();
        assertThat(started).containsExactly("cohort.tc commit");
        // A frame without trace headers is not observed, whatever the stream's own metadata said.
        Context streamHeaders = observations.withTraceHeaders(Context.ROOT,
                Map.of("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        Context untraced = observations.withTraceHeaders(streamHeaders, Map.of());
        assertThat(untraced.call(() -> observations.request("commit", "10.0.0.1:8091:12"))).isSameAs(Observation.NOOP);
        assertThat(started).hasSize(1);
    }

    @Test
    void aRequestWithoutASampledTraceIsNotObserved() {
        assertThat(observations.request("begin", null, new Metadata())).isSameAs(Observation.NOOP);
        assertThat(observations.request("begin", null, null)).isSameAs(Observation.NOOP);
        assertThat(observations.request("commit", "10.0.0.1:8091:7",
                headers("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"))).isSameAs(Observation.NOOP);
        assertThat(started).isEmpty();
        assertThat(TcObservations.sampledCaller(headers("traceparent", "garbage"))).isFalse();
        assertThat(TcObservations.sampledCaller(headers("b3", "0"))).isFalse();
        assertThat(TcObservations.sampledCaller(headers("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0")))
                .isFalse();
    }

    @Test
    void theCommandsOfAnUnobservedDecisionAreNotObservedEither() {
        observations.decided("10.0.0.1:8091:8", observations.request("commit", "10.0.0.1:8091:8", new Metadata()));
        assertThat(observations.command("10.0.0.1:8091:8", 1, "jdbc:a", "COMMIT").observation())
                .isSameAs(Observation.NOOP);
        assertThat(started).isEmpty();

        Observation traced = observations.request("commit", "10.0.0.1:8091:9",
                headers("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        observations.decided("10.0.0.1:8091:9", traced);
        TcObservations.Command command = observations.command("10.0.0.1:8091:9", 1, "jdbc:a", "COMMIT");
        assertThat(command.observation().getContext().getParentObservation()).isSameAs(traced);
        command.answered("PHASE2_COMMITTED", null);
        traced.stop();

        // No request decided it (a timeout, recovery after a restart): the TC's own root span.
        assertThat(observations.command("10.0.0.1:8091:10", 1, "jdbc:a", "ROLLBACK").observation())
                .isNotSameAs(Observation.NOOP);
        assertThat(started).containsExactly("cohort.tc commit", "cohort.tc send commit", "cohort.tc send rollback");
    }

    private ObservationRegistry registry() {
        ObservationRegistry registry = ObservationRegistry.create();
        registry.observationConfig().observationHandler(new ObservationHandler<>() {
            @Override
            public void onStart(Observation.Context context) {
                started.add(context.getContextualName());
            }

            @Override
            public boolean supportsContext(Observation.Context context) {
                return true;
            }
        });
        return registry;
    }

    private static Metadata headers(String key, String value) {
        Metadata m = new Metadata();
        m.put(Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER), value);
        return m;
    }
}
