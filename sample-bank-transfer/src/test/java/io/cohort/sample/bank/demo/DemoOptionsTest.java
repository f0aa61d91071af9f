package io.cohort.sample.bank.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class DemoOptionsTest {

    @Test
    void theDatabaseIsNamedByDbUrlAndTheOldPgNamesMeanTheSame() {
        assertThat(Demo.options(new String[] {"--demo.db-url=jdbc:mariadb://h:3306/", "--demo.db-user=root"}))
                .isEqualTo(Map.of("db-url", "jdbc:mariadb://h:3306/", "db-user", "root"));
        assertThat(Demo.options(new String[] {"--demo.pg-url=jdbc:postgresql://h:5432/postgres", "--demo.pg-password=x"}))
                .isEqualTo(Map.of("db-url", "jdbc:postgresql://h:5432/postgres", "db-password", "x"));
    }

    @Test
    void aMariaDbServerGetsItsOwnRmScriptAndRootAsItsDefaultUser() {
        DemoDatabases db = DemoDatabases.start("jdbc:mariadb://h:3306/any", null, "", "bank");
        assertThat(db.user()).isEqualTo("root");
        assertThat(db.bankDatabase("a")).isEqualTo("bank_a");
        assertThat(db.schemaLocations()).isEqualTo("classpath:db/rm/mysql.sql,classpath:db/bank/schema.sql");
        assertThat(db.describe()).isEqualTo("MariaDB at jdbc:mariadb://h:3306/");
        DemoDatabases pg = DemoDatabases.start("jdbc:postgresql://h:5432/postgres", null, "", "demo_1");
        assertThat(pg.user()).isEqualTo("postgres");
        assertThat(pg.bankDatabase("b")).isEqualTo("demo_1_b");
        assertThat(pg.schemaLocations()).isEqualTo("classpath:db/rm/postgresql.sql,classpath:db/bank/schema.sql");
    }

    @Test
    void mistakesAreRefusedSayingWhatIsAccepted() {
        assertThatThrownBy(() -> DemoDatabases.start("jdbc:mysql://h:3306/", null, "", "bank"))
                .hasMessageContaining("--demo.db-url must look like jdbc:postgresql://host:5432/postgres or "
                        + "jdbc:mariadb://host:3306/, was jdbc:mysql://h:3306/");
        assertThatThrownBy(() -> DemoDatabases.start("jdbc:mariadb://h:3306/", null, "", "bank; drop"))
                .hasMessageContaining("--demo.database-prefix must be lower-case letters, digits and _");
        assertThatThrownBy(() -> Demo.options(new String[] {"--db-url=x"}))
                .hasMessageContaining("Unknown argument '--db-url=x'").hasMessageContaining("db-url, db-user");
    }
}
