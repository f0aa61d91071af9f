package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The embedded store with custom storage, image, config, env and a hard anti-affinity rule. */
class EmbeddedStoreTest {

    private static Manifests manifests;

    @BeforeAll
    static void render() {
        manifests = Chart.render("embedded-custom-storage.yaml");
    }

    @Test
    void claimUsesTheConfiguredClassAndSize() {
        Node sts = manifests.single("StatefulSet");
        Node claim = sts.at("spec.volumeClaimTemplates[0]");
        assertThat(claim.at("spec.storageClassName").text()).isEqualTo("fast-ssd");
        assertThat(claim.at("spec.resources.requests.storage").text()).isEqualTo("50Gi");
        assertThat(claim.at("metadata.annotations").map()).containsEntry("backup.example.com/enabled", "true");
        assertThat(manifests.kinds()).doesNotContain("Deployment");
    }

    @Test
    void dashStorageClassRequestsNoClassAtAll() {
        Manifests noClass = Chart.render(List.of(), Map.of("store.embedded.storageClass", "-"));
        Node claim = noClass.single("StatefulSet").at("spec.volumeClaimTemplates[0]");
        assertThat(claim.at("spec.storageClassName").text()).isEmpty();
    }

    @Test
    void imageAndPullSecretsComeFromValues() {
        assertThat(manifests.container().at("image").text())
                .isEqualTo("registry.example.com/cohort/tc-server:0.1.0-rc1");
        assertThat(manifests.container().at("imagePullPolicy").text()).isEqualTo("Always");
        assertThat(manifests.podSpec().at("imagePullSecrets[0].name").text()).isEqualTo("regcred");
        assertThat(manifests.single("StatefulSet").at("metadata.labels").map())
                .containsEntry("app.kubernetes.io/version", "0.1.0-rc1");
    }

    @Test
    void freeFormConfigIsMergedWithTheStructuredSettings() {
        Node app = manifests.applicationYaml();
        assertThat(app.at("logging.level").map()).containsEntry("io.cohort", "DEBUG");
        assertThat(app.at("cohort.tc.recovery.retry-interval").text()).isEqualTo("5s");
        assertThat(app.at("cohort.tc.default-timeout").text()).isEqualTo("2m");
        assertThat(app.at("cohort.tc.store.type").text()).isEqualTo("embedded");
        assertThat(app.at("cohort.tc.store.embedded.dir").text()).isEqualTo("/var/lib/cohort");
        assertThat(app.at("cohort.tc.grpc-port").integer()).isEqualTo(8091);
        assertThat(app.at("management.endpoints.web.exposure.include").text()).contains("prometheus");
    }

    @Test
    void extraEnvAndJvmOptionsReachTheContainer() {
        assertThat(manifests.env("TZ").at("value").text()).isEqualTo("UTC");
        assertThat(manifests.env("JAVA_TOOL_OPTIONS").at("value").text())
                .isEqualTo("-Xms256m -XX:MaxRAMPercentage=70.0");
    }

    @Test
    void resourcesComeFromValues() {
        Node r = manifests.container().at("resources");
        assertThat(r.at("requests.cpu").text()).isEqualTo("1");
        assertThat(r.at("limits.memory").text()).isEqualTo("2Gi");
    }

    @Test
    void requiredAntiAffinityKeepsReplicasInSeparateZones() {
        Node anti = manifests.podSpec().at("affinity.podAntiAffinity");
        assertThat(anti.has("preferredDuringSchedulingIgnoredDuringExecution")).isFalse();
        Node term = anti.at("requiredDuringSchedulingIgnoredDuringExecution[0]");
        assertThat(term.at("topologyKey").text()).isEqualTo("topology.kubernetes.io/zone");
        assertThat(term.at("labelSelector.matchLabels").map())
                .isEqualTo(manifests.workload().at("spec.selector.matchLabels").map());
    }

    @Test
    void antiAffinityCanBeTurnedOffOrReplaced() {
        Manifests none = Chart.render(List.of(), Map.of("podAntiAffinity.mode", "none"));
        assertThat(none.podSpec().has("affinity")).isFalse();

        Manifests custom = Chart.render(List.of(), Map.of(
                "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
                        + ".matchExpressions[0].key", "pool",
                "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
                        + ".matchExpressions[0].operator", "Exists"));
        assertThat(custom.podSpec().at("affinity").map()).containsOnlyKeys("nodeAffinity");
    }
}
