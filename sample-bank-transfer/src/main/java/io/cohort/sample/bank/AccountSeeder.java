package io.cohort.sample.bank;

import java.util.ArrayList;
import java.util.List;
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
        // Plain SQL both PostgreSQL and MariaDB run; one bank process per database, so count-then-insert is safe.
        Long existing = jdbc.queryForObject("select count(*) from account", Long.class);
        if (existing != null && existing > 0) {
            return;
        }
        List<Object[]> rows = new ArrayList<>();
        for (long id = 1; id <= properties.seedAccounts(); id++) {
            rows.add(new Object[] {id, "owner-" + properties.name() + "-" + id, properties.seedBalance()});
        }
        jdbc.batchUpdate("insert into account (id, owner, balance) values (?, ?, ?)", rows);
        log.info("Bank {}: opened {} accounts with {} cents each", properties.name(), rows.size(), properties.seedBalance());
    }
}
