package io.cohort.tm.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.autoconfigure.CohortTcAutoConfiguration;
import io.cohort.tm.CommitProtocol;
import io.cohort.tm.aspect.GlobalTransactionalAdvisor;
import io.cohort.tm.propagation.XidClientHttpRequestInterceptor;
import io.cohort.tm.propagation.XidGrpcClientInterceptor;
import io.cohort.tm.propagation.XidGrpcServerInterceptor;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TmConfig;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.restclient.RestClientCustomizer;
import org.springframework.boot.restclient.RestTemplateCustomizer;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.client.RestTemplate;

class CohortTmAutoConfigurationTest {

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(CohortTcAutoConfiguration.class, CohortTmAutoConfiguration.class))
            .withPropertyValues("spring.application.name=orders");

    @Test
    void shouldProvideTheTmBeansWithDefaults() {
        runner.run(context -> {
            assertThat(context).hasSingleBean(TcClient.class).hasSingleBean(GlobalTransactionTemplate.class)
                    .hasSingleBean(GlobalTransactionalAdvisor.class).hasSingleBean(XidClientHttpRequestInterceptor.class)
                    .hasSingleBean(RestClientCustomizer.class).hasSingleBean(RestTemplateCustomizer.class)
                    .hasSingleBean(XidGrpcClientInterceptor.class).hasSingleBean(XidGrpcServerInterceptor.class);
            TcClient tc = context.getBean(TcClient.class);
            assertThat(tc.config().address()).isEqualTo("localhost:8091");
            assertThat(tc.config().applicationId()).isEqualTo("orders");
            assertThat(context.getBean(TmConfig.class)).isEqualTo(TmConfig.defaults());
            assertThat(context.getBean(GlobalTransactionalAdvisor.class).getOrder())
                    .isEqualTo(GlobalTransactionalAdvisor.DEFAULT_ORDER);
        });
    }

    @Test
    void shouldBindEveryCohortProperty() {
        runner.withPropertyValues("cohort.application-id=payments", "cohort.tc.address=tc-0:9000,tc-1:9000",
                "cohort.tc.auth-token=s3cret", "cohort.tc.call-timeout=2s", "cohort.tc.retry-attempts=4",
                "cohort.tc.retry-backoff=50ms", "cohort.tm.default-timeout=30s", "cohort.tm.default-protocol=three-phase",
                "cohort.tm.commit-retry-attempts=7", "cohort.tm.rollback-retry-attempts=2", "cohort.tm.retry-backoff=1s",
                "cohort.tm.advisor-order=10").run(context -> {
                    TcClient tc = context.getBean(TcClient.class);
                    assertThat(tc.config().applicationId()).isEqualTo("payments");
                    assertThat(tc.config().addresses()).containsExactly("tc-0:9000", "tc-1:9000");
                    assertThat(tc.config().authToken()).isEqualTo("s3cret");
                    assertThat(tc.config().callTimeout()).isEqualTo(Duration.ofSeconds(2));
                    assertThat(tc.config().retryAttempts()).isEqualTo(4);
                    assertThat(tc.config().retryBackoff()).isEqualTo(Duration.ofMillis(50));
                    assertThat(context.getBean(TmConfig.class)).isEqualTo(new TmConfig(Duration.ofSeconds(30),
                            CommitProtocol.THREE_PHASE, 7, 2, Duration.ofSeconds(1)));
                    assertThat(context.getBean(GlobalTransactionalAdvisor.class).getOrder()).isEqualTo(10);
                });
    }

    @Test
    void shouldFailAtStartNamingThePropertyWhenTheServiceHasNoName() {
        new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(CohortTcAutoConfiguration.class, CohortTmAutoConfiguration.class))
                .run(context -> assertThat(context).hasFailed().getFailure()
                        .rootCause().hasMessageContaining("cohort.application-id").hasMessageContaining("spring.application.name"));
    }

    @Test
    void shouldFailAtStartNamingThePropertyWhenAValueIsBad() {
        runner.withPropertyValues("cohort.tm.commit-retry-attempts=0").run(context -> assertThat(context).hasFailed()
                .getFailure().rootCause().hasMessageContaining("cohort.tm.commit-retry-attempts").hasMessageContaining("0"));
    }

    @Test
    void shouldTurnOffWithCohortEnabledFalse() {
        runner.withPropertyValues("cohort.enabled=false").run(context -> assertThat(context)
                .doesNotHaveBean(TcClient.class).doesNotHaveBean(GlobalTransactionalAdvisor.class)
                .doesNotHaveBean(XidClientHttpRequestInterceptor.class));
    }

    @Configuration(proxyBeanMethods = false)
    static class OwnTemplate {
        @Bean
        GlobalTransactionTemplate myTemplate(TcClient tc) {
            return new GlobalTransactionTemplate(tc, TmConfig.defaults());
        }
    }

    @Test
    void shouldBackOffWhenTheApplicationDefinesItsOwnBeans() {
        runner.withUserConfiguration(OwnTemplate.class).run(context -> assertThat(context)
                .hasSingleBean(GlobalTransactionTemplate.class).hasBean("myTemplate"));
    }

    @Test
    void aRestTemplateFromTheBootBuilderShouldCarryTheXidInterceptor() {
        runner.withConfiguration(AutoConfigurations.of(
                        org.springframework.boot.restclient.autoconfigure.RestTemplateAutoConfiguration.class))
                .run(context -> {
                    RestTemplate restTemplate = context.getBean(org.springframework.boot.restclient.RestTemplateBuilder.class).build();
                    assertThat(restTemplate.getInterceptors()).hasAtLeastOneElementOfType(XidClientHttpRequestInterceptor.class);
                });
    }

    @Test
    void aServletApplicationShouldGetTheXidFilter() {
        new WebApplicationContextRunner().withConfiguration(AutoConfigurations.of(CohortTcAutoConfiguration.class, CohortTmAutoConfiguration.class))
                .withPropertyValues("spring.application.name=orders")
                .run(context -> assertThat(context).getBean("cohortXidServletFilter", FilterRegistrationBean.class)
                        .isNotNull());
        runner.run(context -> assertThat(context).doesNotHaveBean("cohortXidServletFilter"));
    }
}
