package io.cohort.tc.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/** The TLS and identity settings as Spring binds them from properties, and the start-up refusals. */
class TcPropertiesSecurityTest {

    static TcProperties bind(Map<String, String> properties) {
        return new Binder(new MapConfigurationPropertySource(properties)).bindOrCreate("cohort.tc", TcProperties.class);
    }

    static Throwable rootCause(Map<String, String> properties) {
        Throwable t = org.assertj.core.api.Assertions.catchThrowable(() -> bind(properties));
        assertThat(t).as("binding %s", properties).isNotNull();
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    @Test
    void servicesBindByNameWithTheirTokensAndResources() {
        TcProperties p = bind(Map.of("cohort.tc.auth.clients.bank-a.token", "a-secret",
                "cohort.tc.auth.clients.bank-a.resources", "jdbc:postgresql://db1/bank_a,jdbc:postgresql://db2/*",
                "cohort.tc.tls.enabled", "true", "cohort.tc.tls.certificate", "/etc/tls.crt",
                "cohort.tc.tls.private-key", "/etc/tls.key", "cohort.tc.tls.client-auth", "optional",
                "cohort.tc.tls.client-ca", "/etc/ca.crt"));
        assertThat(p.auth().required()).isTrue();
        assertThat(p.auth().clients().get("bank-a").resources())
                .containsExactly("jdbc:postgresql://db1/bank_a", "jdbc:postgresql://db2/*");
        assertThat(p.tls().clientCa()).isEqualTo(Path.of("/etc/ca.crt"));
        assertThat(bind(Map.of()).auth().required()).as("nothing set: authentication off").isFalse();
        assertThat(bind(Map.of()).tls().enabled()).isFalse();
    }

    @Test
    void aServiceWithoutATokenNeedsClientCertificates() {
        assertThat(rootCause(Map.of("cohort.tc.auth.clients.bank-a.resources", "r"))).hasMessageContaining(
                "cohort.tc.auth.clients.bank-a has no token").hasMessageContaining("cohort.tc.tls.client-auth");
    }

    @Test
    void eachServiceHasATokenOfItsOwn() {
        assertThat(rootCause(Map.of("cohort.tc.auth.token", "same", "cohort.tc.auth.clients.bank-a.token", "same")))
                .hasMessageContaining("cohort.tc.auth.clients.bank-a.token equals cohort.tc.auth.token");
    }

    @Test
    void tlsSettingsThatCannotWorkStopTheStart() {
        for (var bad : List.of(
                Map.entry(Map.of("cohort.tc.tls.enabled", "true"), "needs cohort.tc.tls.certificate"),
                Map.entry(Map.of("cohort.tc.tls.enabled", "true", "cohort.tc.tls.certificate", "c", "cohort.tc.tls.private-key", "k",
                        "cohort.tc.tls.client-auth", "require"), "needs cohort.tc.tls.client-ca"),
                Map.entry(Map.of("cohort.tc.tls.client-auth", "require"), "cohort.tc.tls.enabled is false"),
                Map.entry(Map.of("cohort.tc.tls.enabled", "true", "cohort.tc.tls.certificate", "c", "cohort.tc.tls.private-key", "k",
                        "cohort.tc.tls.client-auth", "yes"), "must be none, optional or require"))) {
            assertThat(rootCause(bad.getKey())).as("%s", bad.getKey()).hasMessageContaining(bad.getValue());
        }
    }
}
