package io.cohort.rm.autoconfigure;

import io.cohort.rm.jdbc.DataSourceProxy;
import java.sql.SQLException;
import java.util.Map;
import java.util.Optional;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ListableBeanFactory;
import org.springframework.beans.factory.SmartInitializingSingleton;

/**
 * Fails start-up on the two setup mistakes that otherwise surface only at the first global
 * transaction: a DataSource bean the RM did not wrap (its writes would silently stay outside every
 * global transaction), and a wrapped database without the RM's tables (or the undo log's named key). Runs once every singleton
 * exists, so schema scripts run by Spring Boot ({@code spring.sql.init}) and by
 * {@code cohort.rm.schema.initialize} (at wrapping) have been applied.
 */
final class RmSetupCheck implements SmartInitializingSingleton {

    private static final Logger log = LoggerFactory.getLogger(RmSetupCheck.class);

    private final ListableBeanFactory beans;
    private final CohortRmProperties properties;

    RmSetupCheck(ListableBeanFactory beans, CohortRmProperties properties) {
        this.beans = beans;
        this.properties = properties;
    }

    @Override
    public void afterSingletonsInstantiated() {
        for (Map.Entry<String, DataSource> bean : beans.getBeansOfType(DataSource.class, false, false).entrySet()) {
            String name = bean.getKey();
            if (properties.getExcludedDataSources().contains(name)) {
                continue;
            }
            DataSourceProxy proxy = proxyOf(bean.getValue());
            if (proxy == null) {
                throw new IllegalStateException("DataSource bean '" + name + "' is not wrapped by Cohort's RM although "
                        + "cohort.rm.enabled is true, so its writes would stay outside every global transaction; it was "
                        + "created before the RM's post-processor (typically because a BeanPostProcessor or a static "
                        + "@Bean method depends on it): define it in an ordinary @Configuration, or list it in "
                        + "cohort.rm.excluded-data-sources if it must not take part");
            }
            checkTables(name, proxy);
        }
    }

    private static DataSourceProxy proxyOf(DataSource dataSource) {
        if (dataSource instanceof DataSourceProxy proxy) {
            return proxy;
        }
        try {
            return dataSource.isWrapperFor(DataSourceProxy.class) ? dataSource.unwrap(DataSourceProxy.class) : null;
        } catch (SQLException e) {
            return null;
        }
    }

    private static void checkTables(String beanName, DataSourceProxy proxy) {
        String resourceId = proxy.resourceId();
        Optional<String> missing;
        try {
            missing = proxy.missingRmSchema();
        } catch (SQLException | RuntimeException e) {
            // The database may come up later (pools throw unchecked exceptions too); the first global
            // transaction says what is wrong then.
            log.warn("Cohort RM: cannot check the RM tables of DataSource bean '{}' ({}) at start: {}", beanName,
                    resourceId, String.valueOf(e.getMessage()).replaceAll("[\\r\\n]+", " "));
            return;
        }
        if (missing.isPresent()) {
            String script = proxy.rmSchemaScript();
            throw new IllegalStateException("The database of DataSource bean '" + beanName + "' (" + resourceId
                    + ") has no " + missing.get() + ", which Cohort's RM needs: set cohort.rm.schema.initialize=true to "
                    + "have it created at start, or apply sql/rm/" + script + " to it yourself (also inside "
                    + "rm-client.jar, e.g. spring.sql.init.schema-locations=classpath:db/rm/" + script + ")");
        }
    }
}
