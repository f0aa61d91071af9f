package io.cohort.sample.bank;

import io.cohort.rm.jdbc.DataSourceProxy;
import java.sql.SQLException;
import javax.sql.DataSource;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.stereotype.Component;

/**
 * Refuses to start a bank whose DataSource is not wrapped by Cohort's RM: without it a transfer's
 * writes are plain local transactions, a rollback undoes nothing, and money is lost — silently.
 * (rm-client's auto-configuration does the wrapping; this only checks it happened.)
 */
@Component
class RmGuard implements SmartInitializingSingleton {

    private final DataSource dataSource;

    RmGuard(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    @Override
    public void afterSingletonsInstantiated() {
        boolean wrapped;
        try {
            wrapped = dataSource.isWrapperFor(DataSourceProxy.class);
        } catch (SQLException e) {
            wrapped = false;
        }
        if (!wrapped) {
            throw new IllegalStateException("The bank's DataSource (" + dataSource + ") is not wrapped by Cohort's RM, "
                    + "so transfers would not be atomic: put rm-client on the classpath and leave cohort.rm.enabled on");
        }
    }
}
