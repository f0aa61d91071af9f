package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * values-production.yaml, the documented production setup: three replicas on the PostgreSQL store,
 * a disruption budget that keeps two of them through a drain, readiness that follows the store and
 * the lease renewal.
 */
class ProductionValuesTest {

    private static final String URL = "jdbc:postgresql://pg-rw.db.svc:5432/cohort";

    private static Manifests render(Map<String, Object> sets) {
        return Manifests.parse(Chart.withChartValues("values-production.yaml", sets).call());
    }

    private final Manifests manifests = render(Map.of("store.postgres.url", URL));

    @Test
    void runsThreePostgresReplicasAsADeploymentThatNeverDropsCapacityOnUpgrade() {
        Node deployment = manifests.single("Deployment");
        assertThat(deployment.at("spec.replicas").integer()).isEqualTo(3);
        assertThat(deployment.at("spec.strategy.rollingUpdate.maxUnavailable").integer()).isZero();
        assertThat(manifests.kinds()).doesNotContain("StatefulSet");
        Node app = manifests.applicationYaml();
        assertThat(app.at("cohort.tc.store.type").text()).isEqualTo("postgres");
        assertThat(app.at("cohort.tc.store.postgres.url").text()).isEqualTo(URL);
        assertThat(app.at("cohort.tc.store.postgres.lease-time").text()).isEqualTo("10s");
        assertThat(app.at("cohort.tc.store.postgres.renew-interval").text()).isEqualTo("2s");
    }

    @Test
    void theDisruptionBudgetKeepsAQuorumOfTwoDuringADrain() {
        Node pdb = manifests.single("PodDisruptionBudget");
        assertThat(pdb.at("spec.minAvailable").integer()).isEqualTo(2);
        assertThat(pdb.has("spec.maxUnavailable")).isFalse();
        assertThat(pdb.at("spec.selector.matchLabels").map())
                .isEqualTo(manifests.workload().at("spec.selector.matchLabels").map());
    }

    @Test
    void theDisruptionBudgetCanBeTurnedOff() {
        Manifests without = render(Map.of("store.postgres.url", URL, "podDisruptionBudget.enabled", false));
        assertThat(without.kinds()).doesNotContain("PodDisruptionBudget");
    }

    @Test
    void readinessIsProbedOftenEnoughToDropAReplicaThatLostItsStoreOrLeases() {
        Node readiness = manifests.container().at("readinessProbe");
        assertThat(readiness.at("httpGet.path").text()).isEqualTo("/actuator/health/readiness");
        assertThat(readiness.at("periodSeconds").integer() * readiness.at("failureThreshold").integer())
                .as("seconds until a replica that cannot renew is unready").isLessThanOrEqualTo(10);
    }

    @Test
    void thePasswordComesFromTheSecretNamedInTheSetup() {
        Node password = manifests.env("COHORT_TC_STORE_POSTGRES_PASSWORD");
        assertThat(password.at("valueFrom.secretKeyRef.name").text()).isEqualTo("cohort-db");
        assertThat(password.at("valueFrom.secretKeyRef.key").text()).isEqualTo("password");
    }

    @Test
    void withoutTheDatabaseUrlItIsRejectedSayingWhatToSet() {
        assertThatThrownBy(() -> render(Map.of()))
                .hasMessageContaining("store.type=postgres needs a JDBC URL")
                .hasMessageContaining("store.postgres.url");
    }

    @Test
    void leaseSettingsAreChartValuesNotFreeFormConfig() {
        assertThatThrownBy(() -> render(Map.of("store.postgres.url", URL,
                "config.cohort.tc.store.postgres.lease-time", "30s")))
                .hasMessageContaining("set store.postgres.leaseTime instead");
    }
}
