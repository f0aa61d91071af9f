package io.cohort.client.autoconfigure;

import io.cohort.client.TcClient;
import io.micrometer.observation.ObservationRegistry;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.core.env.Environment;

/**
 * The one {@link TcClient} of a Spring Boot service, shared by the TM and the RM auto-configurations
 * (both run after this one and take the bean). Backs off when the application defines its own;
 * {@code cohort.enabled=false} turns it off.
 */
@AutoConfiguration
@ConditionalOnProperty(prefix = "cohort", name = "enabled", havingValue = "true", matchIfMissing = true)
@EnableConfigurationProperties(CohortTcProperties.class)
public class CohortTcAutoConfiguration {

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public TcClient cohortTcClient(CohortTcProperties properties, Environment environment,
                                   ObjectProvider<ObservationRegistry> observations) {
        // Boot's registry when actuator is present: spans for transactions, branches and TC calls.
        return new TcClient(properties.toClientConfig(environment.getProperty("spring.application.name")),
                observations.getIfUnique(() -> ObservationRegistry.NOOP));
    }
}
