package io.cohort.tc.store.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PostgresStoreConfigTest {

    private static final String URL = "jdbc:postgresql://db:5432/cohort";

    @Test
    void rejectsAUrlThatIsNotPostgresNamingIt() {
        assertThatThrownBy(() -> new PostgresStoreConfig("jdbc:mysql://db/cohort", "tc", "", 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("url").hasMessageContaining("'jdbc:mysql://db/cohort'");
        assertThatThrownBy(() -> new PostgresStoreConfig(null, "tc", "", 4))
                .hasMessageContaining("url").hasMessageContaining("'null'");
    }

    @Test
    void rejectsABlankUsername() {
        assertThatThrownBy(() -> new PostgresStoreConfig(URL, " ", "", 4))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("username");
    }

    @Test
    void rejectsAPoolSizeOutOfRangeNamingTheValue() {
        assertThatThrownBy(() -> new PostgresStoreConfig(URL, "tc", "", 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max-pool-size").hasMessageContaining("was 0");
        assertThatThrownBy(() -> new PostgresStoreConfig(URL, "tc", "", 100_000))
                .hasMessageContaining("was 100000");
    }

    @Test
    void aMissingPasswordIsEmptyAndAPasswordIsNeverPrinted() {
        assertThat(new PostgresStoreConfig(URL, "tc", null, 4).password()).isEmpty();
        assertThat(new PostgresStoreConfig(URL, "tc", "s3cret", 4).toString())
                .doesNotContain("s3cret").contains(URL).contains("maxPoolSize=4");
    }
}
