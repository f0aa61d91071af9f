package io.cohort.rm.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.JDBCType;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The SQL of MySQL's image reads, whole: each is {@code SELECT [lead, ]<images> FROM <table> [WHERE ...]
 * [FOR UPDATE]} with its rows' keys as {@code (k1 = .. AND k2 = ..) OR ...}. The ITs run these on
 * MariaDB; this pins their text so that a change of shape is seen here first.
 */
class MySqlDialectImageReadTest {

    private final MySqlDialect dialect = new MySqlDialect();
    private final TableMeta account = new TableMeta("bank", "acct", List.of(
            new ColumnMeta("id", JDBCType.BIGINT, "bigint(20)", false),
            new ColumnMeta("branch", JDBCType.VARCHAR, "varchar(10)", false),
            new ColumnMeta("balance", JDBCType.DECIMAL, "decimal(12,2)", false)), List.of("id", "branch"));
    private static final String IMAGES = "CAST(`id` AS CHAR) AS `id`, CAST(`branch` AS CHAR CHARACTER SET utf8mb4) "
            + "AS `branch`, CAST(`balance` AS CHAR) AS `balance`";

    @Test
    void aStatementsRowsAreReadLockedWithTheStatementsOwnTableAndCondition() {
        assertThat(dialect.selectForUpdate("`acct` a", "a.balance > ?", account))
                .isEqualTo("SELECT " + IMAGES + " FROM `acct` a WHERE a.balance > ? FOR UPDATE");
        assertThat(dialect.selectForUpdate("`acct`", null, account))
                .isEqualTo("SELECT " + IMAGES + " FROM `acct` FOR UPDATE");
    }

    @Test
    void rowsByKeyBindEachKeyOnceLockedOrNot() {
        String oneRow = "(`id` = CAST(? AS SIGNED) AND `branch` = ?)";
        assertThat(dialect.selectByKeys(account, 2, true)).isEqualTo("SELECT NULL, " + IMAGES
                + " FROM `bank`.`acct` WHERE " + oneRow + " OR " + oneRow + " FOR UPDATE");
        assertThat(dialect.selectByKeys(account, 1, false)).isEqualTo("SELECT NULL, " + IMAGES
                + " FROM `bank`.`acct` WHERE " + oneRow);
    }

    @Test
    void rowsAnInsertWroteAreMatchedByItsOwnExpressionsCastAsStored() {
        assertThat(dialect.selectByKeyExpressions(account, List.of(new String[] {"?", "'x'"},
                new String[] {"7", "?"}))).isEqualTo("SELECT " + IMAGES + " FROM `bank`.`acct` WHERE "
                + "(`id` = CAST(? AS SIGNED) AND `branch` = 'x') OR (`id` = CAST(7 AS SIGNED) AND `branch` = ?) FOR UPDATE");
    }
}
