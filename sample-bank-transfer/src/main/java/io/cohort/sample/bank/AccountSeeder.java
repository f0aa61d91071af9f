package io.cohort.sample.bank;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.ApplicationRunner;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Component;

/** Opens accounts 1..{@code bank.seed-accounts} the first time the bank starts on an empty database. */
@Component
public class AccountSeeder implements ApplicationRunner {

    private static final Logger log = LoggerFactory.getLogger(AccountSeeder.class);

    private final JdbcTemplate jdbc;
    private final BankProperties properties;

    public AccountSeeder(JdbcTemplate jdbc, BankProperties properties) {
        this.jdbc = jdbc;
        this.properties = properties;
    }

    @Override
    public void run(ApplicationArguments args) {
        int opened = jdbc.update("insert into account(id, owner, balance) "
                + "select g, 'owner-" + properties.name() + "-' || g, ? from generate_series(1, ?) g "
                + "where not exists (select 1 from account) on conflict do nothing",
                properties.seedBalance(), properties.seedAccounts());
        if (opened > 0) {
            log.info("Bank {}: opened {} accounts with {} cents each", properties.name(), opened, properties.seedBalance());
        }
    }
}
