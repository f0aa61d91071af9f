package io.cohort.tm.aspect;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.client.autoconfigure.CohortTcAutoConfiguration;
import io.cohort.client.XidContext;
import io.cohort.tm.GlobalTransactional;
import io.cohort.tm.Propagation;
import io.cohort.tm.RecordingCoordinator;
import io.cohort.tm.autoconfigure.CohortTmAutoConfiguration;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.aop.AopAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.transaction.TransactionDefinition;
import org.springframework.transaction.annotation.EnableTransactionManagement;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.transaction.support.AbstractPlatformTransactionManager;
import org.springframework.transaction.support.DefaultTransactionStatus;

/** {@code @GlobalTransactional} found on methods, classes and interfaces, in a Boot context, against a TC on a real port. */
class GlobalTransactionalAdvisorTest {

    public interface Accounts {
        @GlobalTransactional(name = "declared-on-interface")
        String viaInterface();

        String notTransactional();
    }

    public static class AccountsImpl implements Accounts {
        @Override
        public String viaInterface() {
            return XidContext.current();
        }

        @Override
        public String notTransactional() {
            return XidContext.current();
        }

        @GlobalTransactional(timeoutMs = 1234)
        public String onMethod() {
            return XidContext.current();
        }

        @GlobalTransactional(noRollbackFor = IllegalArgumentException.class, rollbackFor = IOException.class)
        public void fails(Exception e) throws Exception {
            throw e;
        }

        @GlobalTransactional(propagation = Propagation.MANDATORY)
        public String mandatory() {
            return XidContext.current();
        }
    }

    @GlobalTransactional(name = "class-level")
    public static class ClassLevel {
        public String anyPublicMethod() {
            return XidContext.current();
        }

        @GlobalTransactional(name = "method-wins")
        public String overridden() {
            return XidContext.current();
        }
    }

    /** Records, at each local commit, the XID bound and how many TC calls had been made. */
    static class RecordingTransactionManager extends AbstractPlatformTransactionManager {
        final List<String> events = new ArrayList<>();
        RecordingCoordinator tc;

        @Override
        protected Object doGetTransaction() {
            return new Object();
        }

        @Override
        protected void doBegin(Object transaction, TransactionDefinition definition) {
        }

        @Override
        protected void doCommit(DefaultTransactionStatus status) {
            events.add("local commit, xid bound=" + (XidContext.current() != null) + ", tc calls=" + tc.calls());
        }

        @Override
        protected void doRollback(DefaultTransactionStatus status) {
            events.add("local rollback, xid bound=" + (XidContext.current() != null) + ", tc calls=" + tc.calls());
        }
    }

    public static class LocalAndGlobal {
        @GlobalTransactional(name = "both")
        @Transactional
        public String both() {
            return XidContext.current();
        }
    }

    @Configuration(proxyBeanMethods = false)
    @EnableTransactionManagement
    static class Beans {
        @Bean
        AccountsImpl accounts() {
            return new AccountsImpl();
        }

        @Bean
        ClassLevel classLevel() {
            return new ClassLevel();
        }

        @Bean
        LocalAndGlobal localAndGlobal() {
            return new LocalAndGlobal();
        }

        @Bean
        RecordingTransactionManager transactionManager() {
            return new RecordingTransactionManager();
        }
    }

    private RecordingCoordinator tc;
    private ApplicationContextRunner runner;

    @BeforeEach
    void start() throws IOException {
        tc = new RecordingCoordinator();
        runner = new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(AopAutoConfiguration.class, CohortTcAutoConfiguration.class,
                        CohortTmAutoConfiguration.class))
                .withUserConfiguration(Beans.class)
                .withPropertyValues("cohort.application-id=advisor-test", "cohort.tc.address=" + tc.address(),
                        "cohort.tm.retry-backoff=1ms");
    }

    @AfterEach
    void stop() throws InterruptedException {
        tc.close();
    }

    @Test
    void shouldApplyAnAnnotationDeclaredOnTheInterface() {
        runner.run(context -> {
            String xid = context.getBean(Accounts.class).viaInterface();
            assertThat(tc.begun()).singleElement().satisfies(b -> {
                assertThat(b.name()).isEqualTo("declared-on-interface");
                assertThat(b.xid()).isEqualTo(xid);
            });
            assertThat(tc.calls()).containsExactly("begin declared-on-interface", "commit " + xid);
            assertThat(context.getBean(Accounts.class).notTransactional()).isNull();
            assertThat(tc.begun()).hasSize(1);
        });
    }

    @Test
    void shouldApplyAnAnnotationOnTheMethodWithItsOptionsAndADefaultName() {
        runner.run(context -> {
            assertThat(context.getBean(AccountsImpl.class).onMethod()).isNotNull();
            assertThat(tc.begun()).singleElement().satisfies(b -> {
                assertThat(b.name()).isEqualTo("AccountsImpl.onMethod");
                assertThat(b.timeoutMs()).isEqualTo(1234);
            });
        });
    }

    @Test
    void shouldApplyAClassLevelAnnotationToPublicMethodsAndLetAMethodAnnotationWin() {
        runner.run(context -> {
            ClassLevel bean = context.getBean(ClassLevel.class);
            assertThat(bean.anyPublicMethod()).isNotNull();
            assertThat(bean.overridden()).isNotNull();
            assertThat(tc.begun()).extracting(RecordingCoordinator.Begun::name).containsExactly("class-level", "method-wins");
        });
    }

    @Test
    void shouldFollowTheRollbackRulesAndRethrowTheSameException() {
        runner.run(context -> {
            AccountsImpl accounts = context.getBean(AccountsImpl.class);
            IllegalArgumentException commits = new IllegalArgumentException("commits");
            IOException rollsBack = new IOException("rolls back");

            assertThatThrownBy(() -> accounts.fails(commits)).isSameAs(commits);
            assertThatThrownBy(() -> accounts.fails(rollsBack)).isSameAs(rollsBack);

            assertThat(tc.calls()).filteredOn(c -> !c.startsWith("begin")).extracting(c -> c.split(" ")[0])
                    .containsExactly("commit", "rollback");
        });
    }

    @Test
    void shouldFailAMandatoryMethodCalledOutsideAGlobalTransaction() {
        runner.run(context -> assertThatThrownBy(() -> context.getBean(AccountsImpl.class).mandatory())
                .hasMessageContaining("MANDATORY"));
    }

    @Test
    void shouldRunOutsideSpringTransactionalSoTheLocalTransactionEndsBeforeTheGlobalCommit() {
        runner.run(context -> {
            RecordingTransactionManager local = context.getBean(RecordingTransactionManager.class);
            local.tc = tc;

            String xid = context.getBean(LocalAndGlobal.class).both();

            assertThat(xid).isNotNull();
            assertThat(local.events).containsExactly("local commit, xid bound=true, tc calls=[begin both]");
            assertThat(tc.calls()).containsExactly("begin both", "commit " + xid);
        });
    }
}
