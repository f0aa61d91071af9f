package io.cohort.client.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcTls;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

class CohortTcAutoConfigurationTest {

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(CohortTcAutoConfiguration.class))
            .withPropertyValues("spring.application.name=orders");

    @Test
    void anAddressWithoutAPortShouldFailTheStartSayingWhatToWrite() {
        runner.withPropertyValues("cohort.tc.address=cohort-tc").run(context -> assertThat(context).hasFailed()
                .getFailure().rootCause().hasMessageContaining("'cohort-tc' has no port")
                .hasMessageContaining("e.g. cohort-tc:8091"));
        runner.withPropertyValues("cohort.tc.address=tc-0:8091,tc-1").run(context -> assertThat(context).hasFailed()
                .getFailure().rootCause().hasMessageContaining("'tc-1' has no port"));
        runner.withPropertyValues("cohort.tc.address=dns:///cohort-tc-headless.ns.svc").run(context -> assertThat(context)
                .hasFailed().getFailure().rootCause().hasMessageContaining("e.g. dns:///cohort-tc-headless.ns.svc:8091"));
    }

    @Test
    void everyDocumentedAddressFormShouldBeAccepted() {
        for (String address : new String[] {"localhost:8091", "tc1:8091, tc2:8091", "10.0.0.5:8091", "[::1]:8091",
                "dns:///cohort-tc-headless.ns.svc:8091"}) {
            runner.withPropertyValues("cohort.tc.address=" + address).run(context -> {
                assertThat(context).hasNotFailed().hasSingleBean(TcClient.class);
                assertThat(context.getBean(TcClient.class).config().address()).isEqualTo(address);
            });
        }
    }

    @Test
    void tlsSettingsReachTheClientAndHalfOfThemFailTheStart() {
        runner.withPropertyValues("cohort.tc.tls.enabled=true", "cohort.tc.tls.server-name=tc.example",
                "cohort.tc.tls.refresh-interval=5s").run(context -> {
                    TcTls tls = context.getBean(TcClient.class).config().tls();
                    assertThat(tls.enabled()).isTrue();
                    assertThat(tls.trustCa()).as("the JVM's trusted CAs").isNull();
                    assertThat(tls.serverName()).isEqualTo("tc.example");
                    assertThat(tls.refreshInterval()).hasSeconds(5);
                });
        runner.withPropertyValues("cohort.tc.tls.trust-ca=/etc/ca.crt").run(context -> assertThat(context).hasFailed()
                .getFailure().rootCause().hasMessageContaining("cohort.tc.tls.enabled is false"));
        runner.withPropertyValues("cohort.tc.tls.enabled=true", "cohort.tc.tls.certificate=/etc/svc.crt").run(context ->
                assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("cohort.tc.tls.certificate and cohort.tc.tls.private-key go together"));
        runner.withPropertyValues("cohort.tc.tls.enabled=true", "cohort.tc.tls.trust-ca=/nowhere/ca.crt").run(context ->
                assertThat(context).hasFailed().getFailure().rootCause()
                        .hasMessageContaining("cohort.tc.tls.trust-ca=/nowhere/ca.crt: no readable file there"));
    }
}
