package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What {@code helm install cohort helm/cohort} puts on a cluster: one TC on the embedded store. */
class DefaultValuesTest {

    private static Manifests manifests;

    @BeforeAll
    static void render() {
        manifests = Chart.render();
    }

    @Test
    void rendersOneEmbeddedTcWithItsServicesAndNothingOptional() {
        assertThat(manifests.kinds()).containsExactlyInAnyOrder(
                "ConfigMap", "PodDisruptionBudget", "Secret", "Service", "Service", "ServiceAccount", "StatefulSet");
    }

    @Test
    void usesTheAppVersionAsImageTag() {
        assertThat(manifests.container().at("image").text()).isEqualTo("cohortio/tc-server:0.1.0");
        assertThat(manifests.container().at("imagePullPolicy").text()).isEqualTo("IfNotPresent");
    }

    @Test
    void exposesGrpcAndHttpPortsOnTheContainer() {
        Node ports = manifests.container().at("ports");
        assertThat(ports.at("[name=grpc].containerPort").integer()).isEqualTo(8091);
        assertThat(ports.at("[name=http].containerPort").integer()).isEqualTo(7091);
    }

    @Test
    void probesHitTheActuatorHealthGroupsOnTheHttpPort() {
        Node c = manifests.container();
        assertThat(c.at("livenessProbe.httpGet.path").text()).isEqualTo("/actuator/health/liveness");
        assertThat(c.at("readinessProbe.httpGet.path").text()).isEqualTo("/actuator/health/readiness");
        assertThat(c.at("startupProbe.httpGet.path").text()).isEqualTo("/actuator/health/liveness");
        for (String probe : List.of("livenessProbe", "readinessProbe", "startupProbe")) {
            assertThat(c.at(probe + ".httpGet.port").text()).as(probe).isEqualTo("http");
        }
        assertThat(c.at("startupProbe.failureThreshold").integer() * c.at("startupProbe.periodSeconds").integer())
                .as("seconds allowed for start and recovery")
                .isGreaterThanOrEqualTo(120);
    }

    @Test
    void clusterIpServiceBalancesGrpcAndHttp() {
        Node service = manifests.get("Service", "cohort");
        assertThat(service.at("spec.type").text()).isEqualTo("ClusterIP");
        assertThat(service.at("spec.ports[name=grpc].port").integer()).isEqualTo(8091);
        assertThat(service.at("spec.ports[name=grpc].targetPort").text()).isEqualTo("grpc");
        assertThat(service.at("spec.ports[name=http].port").integer()).isEqualTo(7091);
        assertThat(service.at("spec.selector").map())
                .isEqualTo(manifests.workload().at("spec.selector.matchLabels").map());
    }

    @Test
    void headlessServiceGivesClientsEveryReadyReplica() {
        Node headless = manifests.get("Service", "cohort-headless");
        assertThat(headless.at("spec.clusterIP").text()).isEqualTo("None");
        assertThat(headless.at("spec.publishNotReadyAddresses").bool()).isFalse();
        assertThat(headless.at("spec.ports[name=grpc].port").integer()).isEqualTo(8091);
        assertThat(headless.at("spec.selector").map())
                .isEqualTo(manifests.workload().at("spec.selector.matchLabels").map());
        assertThat(manifests.workload().at("spec.serviceName").text()).isEqualTo("cohort-headless");
    }

    @Test
    void statefulSetClaimsTenGigabytesForTheLog() {
        Node sts = manifests.single("StatefulSet");
        assertThat(sts.at("spec.replicas").integer()).isEqualTo(1);
        Node claim = sts.at("spec.volumeClaimTemplates[0]");
        assertThat(claim.at("metadata.name").text()).isEqualTo("data");
        assertThat(claim.at("spec.resources.requests.storage").text()).isEqualTo("10Gi");
        assertThat(claim.at("spec.accessModes").raw()).isEqualTo(List.of("ReadWriteOnce"));
        assertThat(claim.has("spec.storageClassName")).as("cluster default class").isFalse();
        assertThat(manifests.container().at("volumeMounts[name=data].mountPath").text()).isEqualTo("/var/lib/cohort");
        assertThat(manifests.podSpec().at("volumes").find(v -> v.at("name").text().equals("data")))
                .as("data comes from the claim template, not a pod volume")
                .isEmpty();
    }

    @Test
    void configMapCarriesTheTcSettings() {
        Node app = manifests.applicationYaml();
        assertThat(app.at("server.port").integer()).isEqualTo(7091);
        assertThat(app.at("cohort.tc.grpc-port").integer()).isEqualTo(8091);
        assertThat(app.at("cohort.tc.default-timeout").text()).isEqualTo("60s");
        assertThat(app.at("cohort.tc.store.type").text()).isEqualTo("embedded");
        assertThat(app.at("cohort.tc.store.embedded.dir").text()).isEqualTo("/var/lib/cohort");
        assertThat(app.has("cohort.tc.store.postgres")).isFalse();
        assertThat(app.at("management.endpoints.web.exposure.include").text()).contains("health", "prometheus");
        assertThat(app.at("management.endpoint.health.probes.enabled").bool()).isTrue();
    }

    @Test
    void containerReadsTheConfigMapAndAdvertisesItsPodIp() {
        assertThat(manifests.env("SPRING_CONFIG_ADDITIONAL_LOCATION").at("value").text())
                .isEqualTo("optional:file:/config/");
        assertThat(manifests.container().at("volumeMounts[name=config].mountPath").text()).isEqualTo("/config");
        assertThat(manifests.podSpec().at("volumes[name=config].configMap.name").text()).isEqualTo("cohort");
        assertThat(manifests.env("POD_IP").at("valueFrom.fieldRef.fieldPath").text()).isEqualTo("status.podIP");
        assertThat(manifests.env("COHORT_TC_ADVERTISED_ADDRESS").at("value").text()).isEqualTo("$(POD_IP):8091");
        assertThat(manifests.env("JAVA_TOOL_OPTIONS").at("value").text()).contains("MaxRAMPercentage");
        assertThat(manifests.hasEnv("COHORT_TC_STORE_POSTGRES_PASSWORD")).isFalse();
    }

    @Test
    void envVarOrderLetsKubernetesExpandPodIp() {
        List<String> names = manifests.container().at("env").list().stream().map(e -> e.at("name").text()).toList();
        assertThat(names.indexOf("POD_IP")).isLessThan(names.indexOf("COHORT_TC_ADVERTISED_ADDRESS"));
    }

    @Test
    void runsLockedDown() {
        Node pod = manifests.podSpec().at("securityContext");
        assertThat(pod.at("runAsNonRoot").bool()).isTrue();
        assertThat(pod.at("runAsUser").integer()).isEqualTo(10001);
        assertThat(pod.at("fsGroup").integer()).isEqualTo(10001);
        assertThat(pod.at("seccompProfile.type").text()).isEqualTo("RuntimeDefault");

        Node c = manifests.container().at("securityContext");
        assertThat(c.at("runAsNonRoot").bool()).isTrue();
        assertThat(c.at("runAsUser").integer()).isEqualTo(10001);
        assertThat(c.at("readOnlyRootFilesystem").bool()).isTrue();
        assertThat(c.at("allowPrivilegeEscalation").bool()).isFalse();
        assertThat(c.at("capabilities.drop").raw()).isEqualTo(List.of("ALL"));
        assertThat(c.at("seccompProfile.type").text()).isEqualTo("RuntimeDefault");

        assertThat(manifests.podSpec().at("automountServiceAccountToken").bool()).isFalse();
        assertThat(manifests.podSpec().at("enableServiceLinks").bool()).isFalse();
    }

    @Test
    void writableTmpAndDataVolumesBackTheReadOnlyRoot() {
        Node mounts = manifests.container().at("volumeMounts");
        assertThat(mounts.at("[name=tmp].mountPath").text()).isEqualTo("/tmp");
        assertThat(mounts.at("[name=config].readOnly").bool()).isTrue();
        assertThat(manifests.podSpec().at("volumes[name=tmp].emptyDir").map()).containsEntry("sizeLimit", "512Mi");
    }

    @Test
    void resourcesRequestCpuAndMemoryAndCapMemory() {
        Node r = manifests.container().at("resources");
        assertThat(r.at("requests.cpu").text()).isEqualTo("250m");
        assertThat(r.at("requests.memory").text()).isEqualTo("512Mi");
        assertThat(r.at("limits.memory").text()).isEqualTo("1Gi");
    }

    @Test
    void prefersToSpreadReplicasOverNodes() {
        Node anti = manifests.podSpec().at("affinity.podAntiAffinity");
        assertThat(anti.has("requiredDuringSchedulingIgnoredDuringExecution")).isFalse();
        Node term = anti.at("preferredDuringSchedulingIgnoredDuringExecution[0]");
        assertThat(term.at("weight").integer()).isEqualTo(100);
        assertThat(term.at("podAffinityTerm.topologyKey").text()).isEqualTo("kubernetes.io/hostname");
        assertThat(term.at("podAffinityTerm.labelSelector.matchLabels").map())
                .isEqualTo(manifests.workload().at("spec.selector.matchLabels").map());
    }

    @Test
    void disruptionBudgetAllowsOnePodDownAndSelectsTheTc() {
        Node pdb = manifests.single("PodDisruptionBudget");
        assertThat(pdb.at("apiVersion").text()).isEqualTo("policy/v1");
        assertThat(pdb.at("spec.maxUnavailable").integer()).isEqualTo(1);
        assertThat(pdb.has("spec.minAvailable")).isFalse();
        assertThat(pdb.at("spec.selector.matchLabels").map())
                .isEqualTo(manifests.workload().at("spec.selector.matchLabels").map());
    }

    @Test
    void podRunsAsTheChartServiceAccount() {
        assertThat(manifests.single("ServiceAccount").at("metadata.name").text()).isEqualTo("cohort");
        assertThat(manifests.podSpec().at("serviceAccountName").text()).isEqualTo("cohort");
    }

    @Test
    void configChangesRollThePods() {
        String before = manifests.workload().at("spec.template.metadata.annotations").map().get("checksum/config")
                .toString();
        Manifests changed = Chart.render(List.of(), Map.of("config.logging.level.root", "DEBUG"));
        String after = changed.workload().at("spec.template.metadata.annotations").map().get("checksum/config")
                .toString();

        assertThat(before).matches("[0-9a-f]{64}");
        assertThat(after).isNotEqualTo(before);
        assertThat(changed.applicationYaml().at("logging.level.root").text()).isEqualTo("DEBUG");
    }

    @Test
    void everyObjectLivesInTheReleaseNamespaceWithStandardLabels() {
        for (String kind : List.of("ConfigMap", "PodDisruptionBudget", "ServiceAccount", "StatefulSet")) {
            Node meta = manifests.single(kind).at("metadata");
            assertThat(meta.at("namespace").text()).as(kind).isEqualTo(Chart.NAMESPACE);
            assertThat(meta.at("labels").map()).as(kind)
                    .containsEntry("app.kubernetes.io/name", "cohort")
                    .containsEntry("app.kubernetes.io/instance", Chart.RELEASE)
                    .containsEntry("app.kubernetes.io/version", "0.1.0")
                    .containsEntry("app.kubernetes.io/managed-by", "Helm");
        }
    }
}
