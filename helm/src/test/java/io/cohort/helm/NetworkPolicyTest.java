package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NetworkPolicyTest {

    @Test
    void noNetworkPolicyByDefault() {
        assertThat(Chart.render().kinds()).doesNotContain("NetworkPolicy");
    }

    @Test
    void admitsTheListedNamespacesAndPodsToEachPortAndSelectsTheTcPods() {
        Manifests manifests = Chart.render("network-policy.yaml");
        Node policy = manifests.single("NetworkPolicy");

        assertThat(policy.at("apiVersion").text()).isEqualTo("networking.k8s.io/v1");
        assertThat(policy.at("metadata.namespace").text()).isEqualTo(Chart.NAMESPACE);
        assertThat(policy.at("spec.podSelector.matchLabels").map())
                .isEqualTo(manifests.workload().at("spec.selector.matchLabels").map());
        assertThat(policy.at("spec.policyTypes").raw()).isEqualTo(List.of("Ingress"));
        assertThat(policy.at("spec.ingress").list()).hasSize(2);

        Node grpc = rule(policy, 8091);
        assertThat(grpc.at("ports[0].protocol").text()).isEqualTo("TCP");
        assertThat(grpc.at("from").list()).hasSize(2);
        for (int i = 0; i < 2; i++) {
            Node peer = grpc.at("from[" + i + "]");
            assertThat(peer.at("namespaceSelector.matchLabels").map())
                    .isEqualTo(Map.of("kubernetes.io/metadata.name", List.of("orders", "inventory").get(i)));
            assertThat(peer.at("podSelector.matchLabels").map()).as("same peer: namespace AND labels")
                    .isEqualTo(Map.of("cohort.io/client", "true"));
        }

        Node http = rule(policy, 7091);
        assertThat(http.at("from").list()).hasSize(1);
        assertThat(http.at("from[0].namespaceSelector.matchLabels").map())
                .isEqualTo(Map.of("kubernetes.io/metadata.name", "monitoring"));
        assertThat(http.at("from[0].podSelector.matchLabels").map()).as("every pod there").isEmpty();
    }

    @Test
    void withoutNamespacesOnlyPodsOfTheReleaseNamespaceGetInAndExtraRulesAreAppended() {
        Manifests manifests = Chart.render(List.of(), Map.of("networkPolicy.enabled", true, "ports.grpc", 9000,
                "networkPolicy.extraIngress[0].from[0].ipBlock.cidr", "10.0.0.0/8"));
        Node policy = manifests.single("NetworkPolicy");

        Node grpc = rule(policy, 9000);
        assertThat(grpc.at("from").list()).hasSize(1);
        assertThat(grpc.has("from[0].namespaceSelector")).as("no namespaceSelector: the policy's own namespace")
                .isFalse();
        assertThat(grpc.at("from[0].podSelector.matchLabels").map()).isEmpty();
        assertThat(policy.at("spec.ingress").list()).hasSize(3);
        assertThat(policy.at("spec.ingress[2].from[0].ipBlock.cidr").text()).isEqualTo("10.0.0.0/8");
    }

    private static Node rule(Node policy, int port) {
        return policy.at("spec.ingress").find(r -> r.at("ports[0].port").integer() == port)
                .orElseThrow(() -> new AssertionError("no ingress rule for port " + port + ": " + policy));
    }
}
