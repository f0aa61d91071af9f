package io.cohort.tc.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class RowKeyTest {

    @Test
    void rowKeysAreEqualExactlyWhenResourceTableAndPrimaryKeyAre() {
        RowKey row = new RowKey("jdbc:postgresql://db/bank", "account", "42");
        assertThat(row).isEqualTo(new RowKey(new String("jdbc:postgresql://db/bank"), "account", "4" + "2".trim()))
                .hasSameHashCodeAs(new RowKey("jdbc:postgresql://db/bank", "account", "42"));
        assertThat(row).isNotEqualTo(new RowKey("jdbc:postgresql://db/other", "account", "42"))
                .isNotEqualTo(new RowKey("jdbc:postgresql://db/bank", "accounts", "42"))
                .isNotEqualTo(new RowKey("jdbc:postgresql://db/bank", "account", "43"))
                .isNotEqualTo(null).isNotEqualTo("account:42");
        assertThat(new RowKey(null, "account", "42")).isEqualTo(new RowKey(null, "account", "42"))
                .isNotEqualTo(row);
        Set<RowKey> locked = new HashSet<>(RowKey.expand("r", List.of("account:1,2", "branch:1")));
        assertThat(locked).containsExactlyInAnyOrder(new RowKey("r", "account", "1"), new RowKey("r", "account", "2"),
                new RowKey("r", "branch", "1"));
    }
}
