package io.cohort.tm.autoconfigure;

import io.cohort.client.TcClient;
import io.cohort.client.autoconfigure.CohortTcAutoConfiguration;
import io.cohort.tm.aspect.GlobalTransactionalAdvisor;
import io.cohort.tm.aspect.GlobalTransactionalAttributeSource;
import io.cohort.tm.aspect.GlobalTransactionalInterceptor;
import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TmConfig;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanDefinition;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Role;
import org.springframework.core.env.Environment;

/**
 * Boot auto-configuration of the TM: {@link GlobalTransactionTemplate} over the shared TC client
 * (client-core's {@link CohortTcAutoConfiguration}), the
 * {@code @GlobalTransactional} advisor, and XID propagation for whichever HTTP and gRPC stacks the
 * application has ({@link CohortPropagationConfigurations}). Every bean backs off when the
 * application defines its own; {@code cohort.enabled=false} turns it all off.
 */
@AutoConfiguration(after = CohortTcAutoConfiguration.class)
@ConditionalOnProperty(prefix = "cohort", name = "enabled", havingValue = "true", matchIfMissing = true)
@EnableConfigurationProperties(CohortProperties.class)
@Import({CohortPropagationConfigurations.Http.class, CohortPropagationConfigurations.RestClientSupport.class,
        CohortPropagationConfigurations.RestTemplateSupport.class, CohortPropagationConfigurations.WebClientSupport.class,
        CohortPropagationConfigurations.Servlet.class, CohortPropagationConfigurations.Grpc.class})
public class CohortTmAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    public TmConfig cohortTmConfig(CohortProperties properties) {
        CohortProperties.Tm tm = properties.getTm();
        return new TmConfig(tm.getDefaultTimeout(), tm.getDefaultProtocol(), tm.getCommitRetryAttempts(),
                tm.getRollbackRetryAttempts(), tm.getRetryBackoff(), tm.isBeginless());
    }

    @Bean
    @ConditionalOnMissingBean
    public GlobalTransactionTemplate globalTransactionTemplate(TcClient tcClient, TmConfig tmConfig) {
        return new GlobalTransactionTemplate(tcClient, tmConfig);
    }

    /**
     * Static and lazy about the template, so creating the advisor (which happens early, while
     * post-processors are set up) does not create the TC client and keep other beans from being proxied.
     */
    @Bean
    @Role(BeanDefinition.ROLE_INFRASTRUCTURE)
    @ConditionalOnMissingBean
    public static GlobalTransactionalAdvisor globalTransactionalAdvisor(ObjectProvider<GlobalTransactionTemplate> template,
                                                                        Environment environment) {
        GlobalTransactionalAttributeSource attributes = new GlobalTransactionalAttributeSource();
        GlobalTransactionalAdvisor advisor = new GlobalTransactionalAdvisor(attributes,
                new GlobalTransactionalInterceptor(attributes, template::getObject));
        advisor.setOrder(environment.getProperty("cohort.tm.advisor-order", Integer.class,
                GlobalTransactionalAdvisor.DEFAULT_ORDER));
        return advisor;
    }
}
