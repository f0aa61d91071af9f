package io.cohort.rm.autoconfigure;

import io.cohort.rm.jdbc.DataSourceProxy;
import io.cohort.rm.jdbc.ResourceManager;
import javax.sql.DataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanPostProcessor;

/**
 * Wraps every {@link DataSource} bean in the RM's {@link DataSourceProxy}, once: a bean that is a
 * proxy already is left alone. The resource manager is looked up only when the first data source
 * appears, so creating this post-processor early creates nothing else. With
 * {@code cohort.rm.schema.initialize} it also creates the RM's tables in the wrapped database.
 */
final class DataSourceWrapper implements BeanPostProcessor {

    private final ObjectProvider<ResourceManager> manager;
    private final ObjectProvider<CohortRmProperties> properties;

    DataSourceWrapper(ObjectProvider<ResourceManager> manager, ObjectProvider<CohortRmProperties> properties) {
        this.manager = manager;
        this.properties = properties;
    }

    @Override
    public Object postProcessAfterInitialization(Object bean, String beanName) {
        if (!(bean instanceof DataSource dataSource) || bean instanceof DataSourceProxy) {
            return bean;
        }
        CohortRmProperties props = properties.getObject();
        if (props.getExcludedDataSources().contains(beanName)) {
            return bean;
        }
        ResourceManager rm = manager.getIfAvailable();
        if (rm == null) {
            return bean;
        }
        DataSourceProxy proxy = rm.wrap(dataSource, props.resourceIdFor(beanName));
        if (props.getSchema().isInitialize()) {
            // Here rather than later: the tables exist before anything can use the wrapped bean.
            RmSchema.create(beanName, proxy, rm.config());
        }
        return proxy;
    }
}
