package io.cohort.tm.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.autoconfigure.CohortTcAutoConfiguration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.restclient.RestTemplateBuilder;
import org.springframework.boot.restclient.autoconfigure.RestClientAutoConfiguration;
import org.springframework.boot.restclient.autoconfigure.RestTemplateAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.client.RestClient;
import org.springframework.web.client.RestTemplate;

/** HTTP clients that would not carry the XID are named at start; Boot-built ones are not. */
@ExtendWith(OutputCaptureExtension.class)
class XidClientCheckTest {

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(CohortTcAutoConfiguration.class, CohortTmAutoConfiguration.class,
                    RestClientAutoConfiguration.class, RestTemplateAutoConfiguration.class))
            .withPropertyValues("spring.application.name=orders");

    @Configuration(proxyBeanMethods = false)
    static class HandMadeClients {
        @Bean
        RestClient inventoryClient() {
            return RestClient.create("http://inventory");
        }

        @Bean
        RestTemplate paymentsTemplate() {
            return new RestTemplate();
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class BootBuiltClients {
        @Bean
        RestClient inventoryClient(RestClient.Builder builder) {
            return builder.baseUrl("http://inventory").build();
        }

        @Bean
        RestTemplate paymentsTemplate(RestTemplateBuilder builder) {
            return builder.build();
        }
    }

    @Test
    void clientsThatWouldDropTheXidShouldBeNamedAtStartWithTheFix(CapturedOutput output) {
        runner.withUserConfiguration(HandMadeClients.class).run(context -> assertThat(context).hasNotFailed());

        assertThat(output).contains("RestClient bean 'inventoryClient' does not send the Cohort-Xid header")
                .contains("build it from the injected RestClient.Builder")
                .contains("RestTemplate bean 'paymentsTemplate' does not send the Cohort-Xid header")
                .contains("propagation = MANDATORY");
    }

    @Test
    void bootBuiltClientsShouldPassQuietly(CapturedOutput output) {
        runner.withUserConfiguration(BootBuiltClients.class).run(context -> assertThat(context).hasNotFailed());

        assertThat(output).doesNotContain("does not send the Cohort-Xid header");
    }
}
