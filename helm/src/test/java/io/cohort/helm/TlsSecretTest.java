package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TlsSecretTest {

    @Test
    void aTlsSecretIsMountedReadOnlyAndTurnsOnTlsWithClientCertificates() {
        Manifests manifests = Chart.render("tls-secret.yaml");

        assertThat(manifests.podSpec().at("volumes[name=tls].secret.secretName").text()).isEqualTo("cohort-tc-tls");
        Node mount = manifests.container().at("volumeMounts[name=tls]");
        assertThat(mount.at("mountPath").text()).isEqualTo("/etc/cohort/tls");
        assertThat(mount.at("readOnly").bool()).isTrue();
        assertThat(manifests.env("COHORT_TC_TLS_ENABLED").at("value").text()).isEqualTo("true");
        assertThat(manifests.env("COHORT_TC_TLS_CERTIFICATE").at("value").text()).isEqualTo("/etc/cohort/tls/tls.crt");
        assertThat(manifests.env("COHORT_TC_TLS_PRIVATE_KEY").at("value").text()).isEqualTo("/etc/cohort/tls/tls.key");
        assertThat(manifests.env("COHORT_TC_TLS_CLIENT_AUTH").at("value").text()).isEqualTo("require");
        assertThat(manifests.env("COHORT_TC_TLS_CLIENT_CA").at("value").text()).isEqualTo("/etc/cohort/tls/ca.crt");
    }

    @Test
    void plaintextByDefault() {
        Manifests manifests = Chart.render();

        assertThat(manifests.hasEnv("COHORT_TC_TLS_ENABLED")).isFalse();
        assertThat(manifests.podSpec().at("volumes").find(v -> v.at("name").text().equals("tls"))).isEmpty();
    }
}
