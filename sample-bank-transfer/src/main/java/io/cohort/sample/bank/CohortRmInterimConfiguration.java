package io.cohort.sample.bank;

import io.cohort.client.TcClient;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.ResourceManager;
import io.cohort.rm.jdbc.DataSourceProxy;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * INTERIM, until rm-client ships its Spring Boot auto-configuration: wraps the DataSource with
 * the RM by hand and opens the RM's command stream to the TC.
 */
@Configuration(proxyBeanMethods = false)
class CohortRmInterimConfiguration {

    @Bean(destroyMethod = "close")
    ResourceManager resourceManager(TcClient tc) {
        return ResourceManager.builder(BranchCoordinator.of(tc)).build();
    }

    @Bean
    static BeanPostProcessor wrapDataSources(ObjectProvider<ResourceManager> rm) {
        return new BeanPostProcessor() {
            @Override
            public Object postProcessAfterInitialization(Object bean, String beanName) {
                return bean instanceof DataSource ds && !(bean instanceof DataSourceProxy) ? rm.getObject().wrap(ds) : bean;
            }
        };
    }

    @Bean
    SmartInitializingSingleton connectRm(ResourceManager rm, TcClient tc) {
        return () -> rm.connect(tc.config(), 4);
    }
}
