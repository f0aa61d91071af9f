package io.cohort.tm.propagation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.client.XidContext;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

class XidPropagationTest {

    @Test
    void injectShouldAddTheHeaderOnlyInsideAGlobalTransaction() {
        Map<String, String> headers = new HashMap<>();
        assertThat(XidPropagation.inject(headers::put)).isFalse();
        assertThat(headers).isEmpty();

        XidContext.runWith("10.0.0.5:8091:9", () -> XidPropagation.inject(headers::put));
        assertThat(headers).containsEntry("Cohort-Xid", "10.0.0.5:8091:9");
    }

    @Test
    void runWithShouldBindOnlyForTheBodyAndRefuseGarbage() {
        XidPropagation.runWith("10.0.0.5:8091:9", () -> assertThat(XidContext.current()).isEqualTo("10.0.0.5:8091:9"));
        assertThat(XidContext.current()).isNull();
        assertThatThrownBy(() -> XidPropagation.runWith("nonsense", () -> { }))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("nonsense");
    }

    @Test
    void wrapShouldCarryTheXidToAPoolThreadAndNotLeaveItThere() throws Exception {
        ExecutorService single = Executors.newSingleThreadExecutor();
        try {
            String seen = XidContext.runWith("10.0.0.5:8091:9", () -> {
                try {
                    return single.submit(XidPropagation.wrap(XidContext::current)).get();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            assertThat(seen).isEqualTo("10.0.0.5:8091:9");
            assertThat(single.submit(XidContext::current).get()).isNull();
        } finally {
            single.shutdownNow();
        }
    }
}
