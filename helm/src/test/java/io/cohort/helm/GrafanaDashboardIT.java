package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.testsupport.TcProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** Every metric the shipped dashboard queries is one a running TC (embedded store) exposes. */
class GrafanaDashboardIT {

    @Test
    void everyMetricOfTheDashboardIsExposedByARunningTc() throws Exception {
        GrafanaDashboard dashboard = GrafanaDashboard.render();
        Path work = Files.createTempDirectory("grafana-dashboard-it");
        try (TcProcess tc = TcProcess.embedded(work.resolve("data")).start()) {
            HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + tc.httpPort() + "/actuator/prometheus"))
                    .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).isEqualTo(200);
            Set<String> exposed = new TreeSet<>();
            for (String line : response.body().split("\n")) {
                if (!line.isEmpty() && !line.startsWith("#")) {
                    int end = line.indexOf('{') >= 0 ? line.indexOf('{') : line.indexOf(' ');
                    exposed.add(line.substring(0, end));
                }
            }
            assertThat(exposed).as("metrics of the TC at /actuator/prometheus").containsAll(dashboard.metricNames());
        }
    }
}
