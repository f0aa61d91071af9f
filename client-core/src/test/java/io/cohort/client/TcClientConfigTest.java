package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class TcClientConfigTest {

    @Test
    void shouldNameTheSettingAndTheBadValueOfEveryInvalidSetting() {
        assertThatThrownBy(() -> new TcClientConfig(" ", "app", "", null, 3, null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cohort.tc.address")
                .hasMessageContaining("host:port");
        assertThatThrownBy(() -> new TcClientConfig("localhost:8091", "", "", null, 3, null))
                .hasMessageContaining("cohort.application-id");
        assertThatThrownBy(() -> new TcClientConfig("localhost:8091", "app", "", Duration.ZERO, 3, null))
                .hasMessageContaining("cohort.tc.call-timeout").hasMessageContaining("PT0S");
        assertThatThrownBy(() -> new TcClientConfig("localhost:8091", "app", "", Duration.ofSeconds(-1), 3, null))
                .hasMessageContaining("cohort.tc.call-timeout").hasMessageContaining("PT-1S");
        assertThatThrownBy(() -> new TcClientConfig("localhost:8091", "app", "", null, 0, null))
                .hasMessageContaining("cohort.tc.retry-attempts").hasMessageContaining("was 0");
        assertThatThrownBy(() -> new TcClientConfig("localhost:8091", "app", "", null, 3, Duration.ZERO))
                .hasMessageContaining("cohort.tc.retry-backoff").hasMessageContaining("PT0S");
        assertThatThrownBy(() -> new TcClientConfig("localhost:8091", "app", "", null, 3, Duration.ofMillis(-5)))
                .hasMessageContaining("cohort.tc.retry-backoff");
    }

    @Test
    void shouldFillDefaultsForUnsetOptionalSettings() {
        TcClientConfig config = new TcClientConfig("localhost:8091", "app", null, null, 1, null, null);

        assertThat(config.authToken()).isEmpty();
        assertThat(config.callTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(config.retryBackoff()).isEqualTo(Duration.ofMillis(100));
        assertThat(config.tls()).isEqualTo(TcTls.PLAINTEXT);
    }

    @Test
    void shouldListEveryReplicaOfACommaSeparatedAddressAndKeepAGrpcTargetWhole() {
        assertThat(TcClientConfig.of(" a:1, b:2 ,,c:3", "app").addresses()).containsExactly("a:1", "b:2", "c:3");
        assertThat(TcClientConfig.of("dns:///tc-headless.ns.svc:8091", "app").addresses())
                .containsExactly("dns:///tc-headless.ns.svc:8091");
    }
}
