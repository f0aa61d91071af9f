package io.cohort.tc.config;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Bad settings fail the start naming the setting, its value and what it may be. */
class TcPropertiesValidationTest {

    private static final Duration S = Duration.ofSeconds(1);

    @Test
    void shouldNameEachSettingThatIsBelowItsLeast() {
        assertThatThrownBy(() -> new TcProperties.Limits(0, 1, 0))
                .hasMessage("cohort.tc.limits.max-active-transactions must be at least 1, was 0");
        assertThatThrownBy(() -> new TcProperties.Limits(1, 1, -1))
                .hasMessage("cohort.tc.limits.ended-kept must be at least 0, was -1");
        assertThatThrownBy(() -> new TcProperties.Recovery(S, S, S, 0, S, S, Duration.ZERO))
                .hasMessage("cohort.tc.recovery.max-attempts must be at least 1, was 0");
        assertThatThrownBy(() -> new TcProperties.Connections(1, S, S, S, S, 1, 0, 1024))
                .hasMessage("cohort.tc.connections.max-resets-per-second must be at least 1, was 0");
        assertThatThrownBy(() -> new TcProperties.Connections(1, S, S, S, S, 1, 1, 1023))
                .hasMessage("cohort.tc.connections.max-queued-bytes-per-stream must be at least 1024, was 1023");
    }

    @Test
    void shouldNameEachDurationThatIsNotPositive() {
        assertThatThrownBy(() -> new TcProperties.Connections(1, S, Duration.ZERO, S, S, 1, 1, 1024))
                .hasMessage("cohort.tc.connections.idle-timeout must be positive, was PT0S");
        assertThatThrownBy(() -> new TcProperties.Recovery(S, S, S, 1, S, S, Duration.ofMillis(-1)))
                .hasMessage("cohort.tc.recovery.commit-batch-delay must be 0s or more and less than "
                        + "cohort.tc.recovery.command-timeout (PT1S), was PT-0.001S");
        assertThatThrownBy(() -> new TcProperties.Recovery(S, S, S, 1, S, S, S))
                .hasMessage("cohort.tc.recovery.commit-batch-delay must be 0s or more and less than "
                        + "cohort.tc.recovery.command-timeout (PT1S), was PT1S");
        assertThatThrownBy(() -> new TcProperties.ThreePhase(Duration.ofMillis(-1)))
                .hasMessage("cohort.tc.three-phase.vote-timeout must be positive, was PT-0.001S");
    }
}
