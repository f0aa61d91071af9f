package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** The postgres store: several stateless replicas, connection settings from values or a Secret. */
class PostgresStoreTest {

    @Nested
    class WithExistingSecret {

        private final Manifests manifests = Chart.render("postgres-existing-secret.yaml");

        @Test
        void runsThreeReplicasAsADeployment() {
            Node deployment = manifests.single("Deployment");
            assertThat(deployment.at("spec.replicas").integer()).isEqualTo(3);
            assertThat(deployment.at("spec.strategy.rollingUpdate.maxUnavailable").integer()).isZero();
            assertThat(manifests.kinds()).doesNotContain("StatefulSet");
            assertThat(manifests.single("Secret").at("data").map()).as("the generated tokens, no password")
                    .containsOnlyKeys("auth-token", "admin-token");
        }

        @Test
        void urlUserAndPasswordComeFromTheSecret() {
            assertSecretRef(manifests.env("COHORT_TC_STORE_POSTGRES_URL"), "cohort-db", "jdbc-uri");
            assertSecretRef(manifests.env("COHORT_TC_STORE_POSTGRES_USERNAME"), "cohort-db", "user");
            assertSecretRef(manifests.env("COHORT_TC_STORE_POSTGRES_PASSWORD"), "cohort-db", "password");
        }

        @Test
        void configMapSelectsPostgresWithoutConnectionSecrets() {
            Node app = manifests.applicationYaml();
            assertThat(app.at("cohort.tc.store.type").text()).isEqualTo("postgres");
            assertThat(app.at("cohort.tc.store.postgres.max-pool-size").integer()).isEqualTo(20);
            assertThat(app.at("cohort.tc.store.postgres").map()).doesNotContainKeys("url", "username", "password");
            assertThat(app.has("cohort.tc.store.embedded")).isFalse();
        }

        @Test
        void dataDirIsAScratchVolume() {
            assertThat(manifests.podSpec().at("volumes[name=data].emptyDir.sizeLimit").text()).isEqualTo("1Gi");
            assertThat(manifests.container().at("volumeMounts[name=data].mountPath").text())
                    .isEqualTo("/var/lib/cohort");
        }

        @Test
        void disruptionBudgetKeepsTwoOfThree() {
            Node pdb = manifests.single("PodDisruptionBudget");
            assertThat(pdb.at("spec.minAvailable").integer()).isEqualTo(2);
            assertThat(pdb.has("spec.maxUnavailable")).isFalse();
        }

        @Test
        void headlessServiceStillResolvesEveryReplica() {
            Node headless = manifests.get("Service", "cohort-headless");
            assertThat(headless.at("spec.clusterIP").text()).isEqualTo("None");
            assertThat(headless.at("spec.selector").map())
                    .isEqualTo(manifests.workload().at("spec.selector.matchLabels").map());
            assertThat(manifests.podSpec().at("affinity.podAntiAffinity")
                    .has("preferredDuringSchedulingIgnoredDuringExecution")).isTrue();
        }

        @Test
        void eachReplicaAdvertisesItsOwnPodIp() {
            assertThat(manifests.env("COHORT_TC_ADVERTISED_ADDRESS").at("value").text()).isEqualTo("$(POD_IP):8091");
        }
    }

    @Nested
    class WithChartMadeSecret {

        private final Manifests manifests = Chart.render("postgres-chart-secret.yaml");

        @Test
        void passwordGoesIntoAChartSecretAndReachesTheContainerFromThere() {
            Node secret = manifests.get("Secret", "cohort");
            String encoded = secret.at("data.postgres-password").text();
            assertThat(new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8)).isEqualTo("s3cret-pw");
            assertThat(secret.at("data").map()).containsOnlyKeys("postgres-password", "auth-token", "admin-token");
            assertSecretRef(manifests.env("COHORT_TC_STORE_POSTGRES_PASSWORD"), "cohort", "postgres-password");
        }

        @Test
        void passwordNeverAppearsOutsideTheSecret() {
            String withoutSecret = manifests.text().replace(manifests.get("Secret", "cohort").at("data.postgres-password")
                    .text(), "");
            assertThat(withoutSecret).doesNotContain("s3cret-pw");
            assertThat(manifests.applicationYaml().at("cohort.tc.store.postgres").map()).doesNotContainKey("password");
        }

        @Test
        void urlAndUserAreInTheConfigMap() {
            Node pg = manifests.applicationYaml().at("cohort.tc.store.postgres");
            assertThat(pg.at("url").text()).isEqualTo("jdbc:postgresql://pg-rw.db.svc:5432/cohort");
            assertThat(pg.at("username").text()).isEqualTo("cohort");
            assertThat(pg.at("max-pool-size").integer()).isEqualTo(16);
            assertThat(manifests.hasEnv("COHORT_TC_STORE_POSTGRES_URL")).isFalse();
            assertThat(manifests.hasEnv("COHORT_TC_STORE_POSTGRES_USERNAME")).isFalse();
        }

        @Test
        void secretChangesRollThePods() {
            assertThat(manifests.workload().at("spec.template.metadata.annotations").map())
                    .containsKeys("checksum/config", "checksum/secret");
        }

        @Test
        void runsTheRequestedReplicas() {
            assertThat(manifests.single("Deployment").at("spec.replicas").integer()).isEqualTo(2);
        }
    }

    static void assertSecretRef(Node env, String secret, String key) {
        assertThat(env.has("value")).as("%s must not carry a literal value", env).isFalse();
        assertThat(env.at("valueFrom.secretKeyRef.name").text()).as(env.toString()).isEqualTo(secret);
        assertThat(env.at("valueFrom.secretKeyRef.key").text()).as(env.toString()).isEqualTo(key);
    }
}
