package io.cohort.rm.autoconfigure;

import io.cohort.client.TcClient;
import io.cohort.client.autoconfigure.CohortTcAutoConfiguration;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.jdbc.ResourceManager;
import javax.sql.DataSource;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanDefinition;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Role;

/**
 * Boot auto-configuration of the AT-mode RM: one {@link ResourceManager} over the shared TC client
 * (client-core's {@link CohortTcAutoConfiguration}), every {@link DataSource} bean wrapped in its
 * proxy, start-up failed when a DataSource bean escaped the wrapping or its database lacks the RM's
 * tables ({@link RmSetupCheck}), and the command stream to the TC opened at start and closed at shutdown. Off with
 * {@code cohort.enabled=false} or {@code cohort.rm.enabled=false}; every bean backs off when the
 * application defines its own.
 */
@AutoConfiguration(after = CohortTcAutoConfiguration.class)
@ConditionalOnClass(DataSource.class)
@ConditionalOnProperty(prefix = "cohort", name = "enabled", havingValue = "true", matchIfMissing = true)
@ConditionalOnProperty(prefix = "cohort.rm", name = "enabled", havingValue = "true", matchIfMissing = true)
@EnableConfigurationProperties(CohortRmProperties.class)
public class CohortRmAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnBean(TcClient.class)
    public ResourceManager cohortResourceManager(TcClient tcClient, CohortRmProperties properties) {
        return ResourceManager.builder(BranchCoordinator.of(tcClient)).config(properties.toConfig())
                .observations(tcClient.observations()).build();
    }

    /** Static, and lazy about what it needs, so that registering it early instantiates nothing. */
    @Bean
    @Role(BeanDefinition.ROLE_INFRASTRUCTURE)
    public static DataSourceWrapper cohortDataSourceWrapper(ObjectProvider<ResourceManager> manager,
                                                            ObjectProvider<CohortRmProperties> properties) {
        return new DataSourceWrapper(manager, properties);
    }

    @Bean
    @ConditionalOnBean(ResourceManager.class)
    RmSetupCheck cohortRmSetupCheck(ListableBeanFactory beans, CohortRmProperties properties) {
        return new RmSetupCheck(beans, properties);
    }

    @Bean
    @ConditionalOnBean(ResourceManager.class)
    RmStreamLifecycle cohortRmStreamLifecycle(ResourceManager manager, TcClient tcClient, CohortRmProperties properties) {
        return new RmStreamLifecycle(manager, tcClient, properties.getPhase2Threads(), properties.getConnectTimeout());
    }
}
