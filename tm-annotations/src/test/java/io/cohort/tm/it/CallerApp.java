package io.cohort.tm.it;

import io.cohort.client.XidContext;
import io.cohort.tm.GlobalTransactional;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.client.RestClient;

/** The calling service of the two-service tests: debits locally, then asks the callee to credit over HTTP. */
@Configuration(proxyBeanMethods = false)
@EnableAutoConfiguration
class CallerApp {

    record Outcome(String callerXid, String calleeXid) {
    }

    public static class Transfers {
        private final JdbcTemplate jdbc;
        private final RestClient callee;
        private volatile String lastXid;

        Transfers(JdbcTemplate jdbc, RestClient callee) {
            this.jdbc = jdbc;
            this.callee = callee;
        }

        /** The XID of the last transfer, readable after it threw (a method: fields of the Spring proxy are not the bean's). */
        public String lastXid() {
            return lastXid;
        }

        @GlobalTransactional(name = "transfer")
        public Outcome transfer(String calleeMode, int amount, boolean calleeFails, boolean failAfterCall) {
            return debitThenCredit(calleeMode, amount, calleeFails, failAfterCall, 0);
        }

        @GlobalTransactional(name = "slow-transfer", timeoutMs = 1000)
        public Outcome slowTransfer(int amount, long sleepMs) {
            return debitThenCredit("required", amount, false, false, sleepMs);
        }

        /** Also a local transaction: its commit, after the timeout, is what fails (the branch registers there). */
        @GlobalTransactional(name = "slow-local-debit", timeoutMs = 1000)
        @org.springframework.transaction.annotation.Transactional
        public void slowLocalDebit(int amount, long sleepMs) throws InterruptedException {
            lastXid = XidContext.current();
            jdbc.update("insert into debit(xid, amount) values (?, ?)", lastXid, amount);
            Thread.sleep(sleepMs);
        }

        private Outcome debitThenCredit(String mode, int amount, boolean calleeFails, boolean failAfter, long sleepMs) {
            lastXid = XidContext.current();
            jdbc.update("insert into debit(xid, amount) values (?, ?)", lastXid, amount);
            String calleeXid = callee.post().uri("/credit/{mode}?amount={amount}&fail={fail}", mode, amount, calleeFails)
                    .retrieve().body(String.class);
            if (sleepMs > 0) {
                try {
                    Thread.sleep(sleepMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (failAfter) {
                throw new IllegalStateException("caller fails after the callee credited " + amount);
            }
            return new Outcome(XidContext.current(), calleeXid);
        }
    }

    /** Built from Boot's RestClient.Builder, so Cohort's customizer has added the XID interceptor. */
    @Bean
    RestClient calleeClient(RestClient.Builder builder, Environment environment) {
        return builder.baseUrl(environment.getRequiredProperty("callee.url")).build();
    }

    @Bean
    Transfers transfers(JdbcTemplate jdbc, RestClient calleeClient) {
        return new Transfers(jdbc, calleeClient);
    }
}
