package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.testsupport.TcProcess;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The test TC process of {@code cohort-test-support}, as the other modules' tests start it. */
class TcProcessIT {

    @Test
    void aTcThatMissesItsStartDeadlineIsKilledNotLeftToComeUpLater(@TempDir Path dir) {
        TcProcess tc = TcProcess.embedded(dir.resolve("data"));
        assertThatThrownBy(() -> tc.start(Duration.ofMillis(1))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("did not listen").hasMessageContaining("killed");
        assertThat(tc.isAlive()).as("the TC that missed its deadline still runs").isFalse();
    }

    @Test
    void aTcStartsListensAndStartsAgainOnTheSameDataAfterAKill(@TempDir Path dir) {
        try (TcProcess tc = TcProcess.embedded(dir.resolve("data")).start()) {
            int port = tc.grpcPort();
            tc.kill();
            assertThat(tc.isAlive()).isFalse();
            tc.start();
            assertThat(tc.isAlive()).isTrue();
            assertThat(tc.grpcPort()).isEqualTo(port);
        }
    }
}
