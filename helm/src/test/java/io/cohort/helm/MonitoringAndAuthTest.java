package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MonitoringAndAuthTest {

    @Test
    void serviceMonitorScrapesPrometheusOnTheHttpPortOfTheMainServiceOnly() {
        Manifests manifests = Chart.render("servicemonitor.yaml");
        Node monitor = manifests.single("ServiceMonitor");

        assertThat(monitor.at("apiVersion").text()).isEqualTo("monitoring.coreos.com/v1");
        assertThat(monitor.at("metadata.namespace").text()).isEqualTo("monitoring");
        assertThat(monitor.at("metadata.labels").map()).containsEntry("release", "kube-prometheus-stack");
        assertThat(monitor.at("spec.namespaceSelector.matchNames[0]").text()).isEqualTo(Chart.NAMESPACE);
        Node endpoint = monitor.at("spec.endpoints[0]");
        assertThat(endpoint.at("port").text()).isEqualTo("http");
        assertThat(endpoint.at("path").text()).isEqualTo("/actuator/prometheus");
        assertThat(endpoint.at("interval").text()).isEqualTo("15s");
        assertThat(endpoint.at("scrapeTimeout").text()).isEqualTo("5s");
        assertThat(endpoint.at("metricRelabelings[0].action").text()).isEqualTo("drop");

        assertThat(monitor.at("spec.selector.matchLabels").map())
                .containsEntry("cohort.io/service", "main")
                .containsAllEntriesOf(manifests.workload().at("spec.selector.matchLabels").map());
        assertThat(manifests.get("Service", "cohort").at("metadata.labels").map())
                .containsAllEntriesOf(monitor.at("spec.selector.matchLabels").map());
        assertThat(manifests.get("Service", "cohort-headless").at("metadata.labels").map())
                .containsEntry("cohort.io/service", "headless");
        assertThat(manifests.get("Service", "cohort").at("spec.ports[name=http].port").integer()).isEqualTo(7091);
    }

    @Test
    void noServiceMonitorByDefault() {
        assertThat(Chart.render().kinds()).doesNotContain("ServiceMonitor");
    }

    @Test
    void authTokenFromValuesGoesThroughAChartSecret() {
        Manifests manifests = Chart.render("auth-token.yaml");

        Node secret = manifests.get("Secret", "cohort");
        assertThat(secret.at("data").map()).containsOnlyKeys("auth-token", "admin-token");
        assertThat(decoded(secret, "auth-token")).isEqualTo("0123456789abcdef-token");
        assertThat(decoded(secret, "admin-token")).as("not given, so generated").matches("[A-Za-z0-9]{48}");
        PostgresStoreTest.assertSecretRef(manifests.env("COHORT_TC_AUTH_TOKEN"), "cohort", "auth-token");
        assertThat(manifests.single("ConfigMap").at("data").map().get("application.yaml").toString())
                .doesNotContain("0123456789abcdef-token");
        assertThat(manifests.workload().at("spec.template.metadata.annotations").map()).containsKey("checksum/secret");
    }

    @Test
    void authTokenFromAnExistingSecret() {
        Manifests manifests = Chart.render("auth-existing-secret.yaml");

        assertThat(manifests.kinds()).doesNotContain("Secret");
        PostgresStoreTest.assertSecretRef(manifests.env("COHORT_TC_AUTH_TOKEN"), "cohort-auth", "bearer");
    }

    @Test
    void postgresPasswordAndAuthTokenShareTheChartSecret() {
        Manifests manifests = Chart.render("postgres-chart-secret.yaml", "auth-token.yaml");

        assertThat(manifests.single("Secret").at("data").map())
                .containsOnlyKeys("postgres-password", "auth-token", "admin-token");
        PostgresStoreTest.assertSecretRef(manifests.env("COHORT_TC_AUTH_TOKEN"), "cohort", "auth-token");
        PostgresStoreTest.assertSecretRef(manifests.env("COHORT_TC_STORE_POSTGRES_PASSWORD"), "cohort",
                "postgres-password");
    }

    @Test
    void adminTokenGoesThroughTheChartSecretAndTheServiceMonitorPresentsTheClientToken() {
        Manifests manifests = Chart.render("auth-admin-token.yaml", "servicemonitor.yaml");

        assertThat(manifests.single("Secret").at("data").map()).containsOnlyKeys("auth-token", "admin-token");
        PostgresStoreTest.assertSecretRef(manifests.env("COHORT_TC_AUTH_ADMIN_TOKEN"), "cohort", "admin-token");
        Node authorization = manifests.single("ServiceMonitor").at("spec.endpoints[0].authorization");
        assertThat(authorization.at("type").text()).isEqualTo("Bearer");
        assertThat(authorization.at("credentials.name").text()).isEqualTo("cohort");
        assertThat(authorization.at("credentials.key").text()).isEqualTo("auth-token");
    }

    @Test
    void adminTokenFromAnExistingSecretIsOptional() {
        Manifests manifests = Chart.render("auth-existing-secret.yaml");

        Node admin = manifests.env("COHORT_TC_AUTH_ADMIN_TOKEN");
        PostgresStoreTest.assertSecretRef(admin, "cohort-auth", "admin-token");
        assertThat(admin.at("valueFrom.secretKeyRef.optional").text()).isEqualTo("true");
    }

    @Test
    void withNoTokenGivenTheChartGeneratesTheClientAndAdminTokensIntoItsSecret() {
        Manifests manifests = Chart.render();

        Node secret = manifests.get("Secret", "cohort");
        assertThat(secret.at("data").map()).containsOnlyKeys("auth-token", "admin-token");
        String token = decoded(secret, "auth-token");
        String admin = decoded(secret, "admin-token");
        assertThat(token).matches("[A-Za-z0-9]{48}");
        assertThat(admin).matches("[A-Za-z0-9]{48}").isNotEqualTo(token);
        PostgresStoreTest.assertSecretRef(manifests.env("COHORT_TC_AUTH_TOKEN"), "cohort", "auth-token");
        PostgresStoreTest.assertSecretRef(manifests.env("COHORT_TC_AUTH_ADMIN_TOKEN"), "cohort", "admin-token");
        assertThat(manifests.single("ConfigMap").at("data").map().get("application.yaml").toString())
                .doesNotContain(token).doesNotContain(admin);
        assertThat(manifests.text()).as("NOTES and manifests never print a token").containsOnlyOnce(
                secret.at("data.auth-token").text());

        // Without a cluster to look the installed Secret up in, every render generates anew: no
        // token is built into the chart.
        assertThat(decoded(Chart.render().get("Secret", "cohort"), "auth-token")).isNotEqualTo(token);
    }

    @Test
    void anUpgradeKeepsTheTokensTheInstalledSecretHolds() {
        Node secret = Chart.renderIn(KubernetesApi.INSTALLED).get("Secret", "cohort");

        assertThat(decoded(secret, "auth-token")).isEqualTo(KubernetesApi.INSTALLED_TOKEN);
        assertThat(decoded(secret, "admin-token")).isEqualTo(KubernetesApi.INSTALLED_ADMIN_TOKEN);
    }

    @Test
    void aGivenTokenWinsOverTheInstalledOne() {
        Node secret = Manifests.parse(Chart.helm().template().withName(Chart.RELEASE).withNamespace(KubernetesApi.INSTALLED)
                .withValuesFile(Chart.VALUES.resolve("auth-token.yaml")).call()).get("Secret", "cohort");

        assertThat(decoded(secret, "auth-token")).isEqualTo("0123456789abcdef-token");
        assertThat(decoded(secret, "admin-token")).isEqualTo(KubernetesApi.INSTALLED_ADMIN_TOKEN);
    }

    @Test
    void generatedTokensDoNotRollThePodsButAGivenTokenThatChangesDoes() {
        String generated = secretChecksum(Chart.render());
        assertThat(secretChecksum(Chart.render())).as("generated anew, hashed from the values").isEqualTo(generated);
        String given = secretChecksum(Chart.render("auth-token.yaml"));
        assertThat(given).isNotEqualTo(generated);
        assertThat(secretChecksum(Chart.render(List.of("auth-token.yaml"), Map.of("auth.token", "another-token-0123"))))
                .isNotEqualTo(given);
    }

    @Test
    void authDisabledRendersNoSecretAndNoTokenForTheTcOrTheServiceMonitor() {
        Manifests manifests = Chart.render("auth-disabled.yaml", "servicemonitor.yaml");

        assertThat(manifests.kinds()).doesNotContain("Secret");
        assertThat(manifests.hasEnv("COHORT_TC_AUTH_TOKEN")).isFalse();
        assertThat(manifests.hasEnv("COHORT_TC_AUTH_ADMIN_TOKEN")).isFalse();
        assertThat(manifests.single("ServiceMonitor").has("spec.endpoints[0].authorization")).isFalse();
    }

    private static String secretChecksum(Manifests manifests) {
        return manifests.workload().at("spec.template.metadata.annotations").map().get("checksum/secret").toString();
    }

    private static String decoded(Node secret, String key) {
        return new String(Base64.getDecoder().decode(secret.at("data." + key).text()), StandardCharsets.UTF_8);
    }
}
