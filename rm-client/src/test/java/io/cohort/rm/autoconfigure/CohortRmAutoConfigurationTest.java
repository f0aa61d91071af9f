package io.cohort.rm.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import com.zaxxer.hikari.HikariDataSource;
import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.autoconfigure.CohortTcAutoConfiguration;
import io.cohort.rm.RmConfig;
import io.cohort.rm.UndoLogFormat;
import io.cohort.rm.jdbc.DataSourceProxy;
import io.cohort.rm.jdbc.ResourceManager;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

class CohortRmAutoConfigurationTest {

    /** Two pools that are never opened: resource ids are given, so nothing connects to a database. */
    @Configuration(proxyBeanMethods = false)
    static class TwoDataSources {
        @Bean(destroyMethod = "close")
        HikariDataSource orders() {
            HikariDataSource ds = new HikariDataSource();
            ds.setJdbcUrl("jdbc:postgresql://127.0.0.1:1/orders");
            return ds;
        }

        @Bean(destroyMethod = "close")
        HikariDataSource audit() {
            HikariDataSource ds = new HikariDataSource();
            ds.setJdbcUrl("jdbc:postgresql://127.0.0.1:1/audit");
            return ds;
        }
    }

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(CohortTcAutoConfiguration.class, CohortRmAutoConfiguration.class))
            .withUserConfiguration(TwoDataSources.class)
            .withPropertyValues("spring.application.name=orders", "cohort.tc.address=127.0.0.1:1",
                    "cohort.rm.connect-timeout=50ms", "cohort.rm.resource-ids.orders=db-orders",
                    "cohort.rm.resource-ids.audit=db-audit");

    @Test
    void shouldWrapEveryDataSourceBeanOnceAndAnnounceThemAll() {
        runner.run(context -> {
            assertThat(context).hasNotFailed().hasSingleBean(ResourceManager.class).hasSingleBean(TcClient.class);
            for (String name : new String[] {"orders", "audit"}) {
                DataSource ds = context.getBean(name, DataSource.class);
                assertThat(ds).isInstanceOf(DataSourceProxy.class);
                assertThat(((DataSourceProxy) ds).target()).isInstanceOf(HikariDataSource.class);
                assertThat(ds.unwrap(HikariDataSource.class)).isSameAs(((DataSourceProxy) ds).target());
                DataSourceWrapper wrapper = context.getBean(DataSourceWrapper.class);
                assertThat(wrapper.postProcessAfterInitialization(ds, name)).as("wrapped again").isSameAs(ds);
            }
            assertThat(context.getBean(ResourceManager.class).resourceIds()).containsExactlyInAnyOrder("db-orders", "db-audit");
            assertThat(context.getBean(ResourceManager.class).connection()).as("streams opened at start").isNotNull();
        });
    }

    @Test
    void shouldBindEveryRmProperty() {
        runner.withPropertyValues("cohort.rm.lock-retry-interval=5ms", "cohort.rm.lock-retry-attempts=7",
                "cohort.rm.sql-cache-size=64", "cohort.rm.undo.table=rm.undo_log", "cohort.rm.undo.compress-threshold=100",
                "cohort.rm.undo.max-inflated-bytes=1000", "cohort.rm.undo.delete-batch-size=10",
                "cohort.rm.undo.delete-interval=1s", "cohort.rm.undo.marker-retention=2h",
                "cohort.rm.three-phase.termination-timeout=45s", "cohort.rm.three-phase.check-interval=250ms",
                "cohort.rm.three-phase.probe-timeout=700ms", "cohort.rm.three-phase.decision-table=rm.decisions",
                "cohort.rm.key-pinned-autocommit-updates=false", "cohort.rm.undo-log-format=binary",
                "cohort.rm.undo.images-at-tc=false").run(context ->
                assertThat(context.getBean(ResourceManager.class).config()).isEqualTo(new RmConfig(Duration.ofMillis(5), 7,
                        "rm.undo_log", 100, 1000, 10, Duration.ofSeconds(1), Duration.ofHours(2), 64,
                        Duration.ofSeconds(45), Duration.ofMillis(250), Duration.ofMillis(700), "rm.decisions", false,
                        UndoLogFormat.BINARY, false)));
        runner.run(context -> assertThat(context.getBean(ResourceManager.class).config()).isEqualTo(RmConfig.defaults()));
    }

    @Test
    void shouldFailAtStartNamingABadProperty() {
        runner.withPropertyValues("cohort.rm.lock-retry-attempts=0").run(context -> assertThat(context).hasFailed()
                .getFailure().rootCause().hasMessageContaining("cohort.rm.lock-retry-attempts").hasMessageContaining("0"));
        runner.withPropertyValues("cohort.rm.phase2-threads=0").run(context -> assertThat(context).hasFailed()
                .getFailure().rootCause().hasMessageContaining("cohort.rm.phase2-threads"));
        runner.withPropertyValues("cohort.rm.three-phase.termination-timeout=5ms").run(context -> assertThat(context)
                .hasFailed().getFailure().rootCause().hasMessageContaining("cohort.rm.three-phase.termination-timeout"));
        runner.withPropertyValues("cohort.rm.undo-log-format=protobuf").run(context -> assertThat(context).hasFailed()
                .getFailure().rootCause().hasMessage("Invalid cohort.rm.undo-log-format: protobuf (accepted: json, binary)"));
    }

    @Test
    void shouldLeaveDataSourcesAloneWhenTurnedOff() {
        for (String off : new String[] {"cohort.enabled=false", "cohort.rm.enabled=false"}) {
            runner.withPropertyValues(off).run(context -> {
                assertThat(context).doesNotHaveBean(ResourceManager.class);
                assertThat(context.getBean("orders")).isInstanceOf(HikariDataSource.class);
            });
        }
    }

    @Test
    void shouldLeaveExcludedDataSourcesAlone() {
        runner.withPropertyValues("cohort.rm.excluded-data-sources=audit").run(context -> {
            assertThat(context.getBean("orders")).isInstanceOf(DataSourceProxy.class);
            assertThat(context.getBean("audit")).isInstanceOf(HikariDataSource.class);
        });
    }

    @Test
    void shouldRefuseTwoDataSourcesWithOneResourceId() {
        runner.withPropertyValues("cohort.rm.resource-ids.audit=db-orders").run(context -> assertThat(context)
                .hasFailed().getFailure().rootCause().hasMessageContaining("db-orders").hasMessageContaining("cohort.rm.resource-id"));
    }

    /** A post-processor whose static factory method needs a DataSource: Spring creates it before the RM's wrapper. */
    @Configuration(proxyBeanMethods = false)
    static class DataSourceNeededByAPostProcessor {
        @Bean(destroyMethod = "close")
        static HikariDataSource early() {
            HikariDataSource ds = new HikariDataSource();
            ds.setJdbcUrl("jdbc:postgresql://127.0.0.1:1/early");
            return ds;
        }

        @Bean
        static org.springframework.beans.factory.config.BeanPostProcessor auditing(DataSource early) {
            return new org.springframework.beans.factory.config.BeanPostProcessor() {
            };
        }
    }

    @Test
    void shouldFailAtStartWhenADataSourceBeanEscapedTheWrapping() {
        runner.withUserConfiguration(DataSourceNeededByAPostProcessor.class).run(context -> assertThat(context)
                .hasFailed().getFailure().hasMessageContaining("DataSource bean 'early' is not wrapped")
                .hasMessageContaining("cohort.rm.excluded-data-sources"));
        runner.withUserConfiguration(DataSourceNeededByAPostProcessor.class)
                .withPropertyValues("cohort.rm.excluded-data-sources=early")
                .run(context -> assertThat(context).hasNotFailed());
    }

    @Configuration(proxyBeanMethods = false)
    static class OwnTcClient {
        @Bean(destroyMethod = "close")
        TcClient myTcClient() {
            return new TcClient(TcClientConfig.of("127.0.0.1:1", "mine"));
        }
    }

    @Test
    void shouldUseTheTcClientTheApplicationOrTheTmAlreadyDefines() {
        runner.withUserConfiguration(OwnTcClient.class).run(context -> {
            assertThat(context).hasSingleBean(TcClient.class).hasBean("myTcClient");
            assertThat(context).hasSingleBean(ResourceManager.class);
        });
    }
}
