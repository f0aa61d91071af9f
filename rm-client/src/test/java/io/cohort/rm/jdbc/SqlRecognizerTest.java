package io.cohort.rm.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SqlRecognizerTest {

    @Test
    void plainSelectsAreNeverParsed() {
        assertThat(SqlRecognizer.recognize("  /* c */ SELECT * FROM t WHERE x = 'FOR UPDATE-less'"))
                .isInstanceOf(SqlPlan.PassThrough.class);
    }

    @Test
    void updateSplitsParametersBetweenSetAndWhere() {
        SqlPlan.Update u = (SqlPlan.Update) SqlRecognizer.recognize(
                "UPDATE public.account a SET balance = balance - ?, note = '?' WHERE a.id IN (?, ?)");
        assertThat(u.table()).isEqualTo("public.account");
        assertThat(u.tableClause()).isEqualTo("public.account a");
        assertThat(u.setParams()).isEqualTo(1);
        assertThat(u.whereParams()).isEqualTo(2);
        assertThat(u.setColumns()).containsExactly("balance", "note");
    }

    @Test
    void keyPinsAreTheTopLevelEqualitiesToParametersOrCanonicalIntegers() {
        SqlPlan.Update u = (SqlPlan.Update) SqlRecognizer.recognize(
                "UPDATE account a SET balance = balance - ?, note = ? WHERE a.balance >= ? AND ? = \"Key\" AND a.id = 7"
                        + " AND ver = ? AND x = 007 AND y = -1 AND z = ?::int");
        assertThat(u.keyPins()).containsExactly(new SqlPlan.KeyPin("Key", 4, null), new SqlPlan.KeyPin("id", 0, "7"),
                new SqlPlan.KeyPin("ver", 5, null));
        assertThat(((SqlPlan.Update) SqlRecognizer.recognize("UPDATE t SET v = 1 WHERE id = ? OR id = ?")).keyPins())
                .isEmpty();
        assertThat(((SqlPlan.Update) SqlRecognizer.recognize("UPDATE t SET v = 1 WHERE NOT (id = ?)")).keyPins())
                .isEmpty();
        assertThat(((SqlPlan.Update) SqlRecognizer.recognize("UPDATE t SET v = 1")).keyPins()).isEmpty();
    }

    @Test
    void lockingSelectKeepsItsWhereAndLocking() {
        SqlPlan.LockingSelect s = (SqlPlan.LockingSelect) SqlRecognizer.recognize(
                "SELECT id, ? AS tag FROM account a WHERE a.id = ? FOR UPDATE");
        assertThat(s.leadingParams()).isEqualTo(1);
        assertThat(s.keySelect()).contains(SqlPlan.PK_PLACEHOLDER).contains("WHERE a.id = ?").contains("FOR UPDATE");
    }

    @Test
    void whatCannotBeMadeSafeIsUnsupportedWithAReason() {
        assertThat(reason("UPDATE t SET x = u.x FROM u WHERE t.id = u.id")).contains("multi-table UPDATE");
        assertThat(reason("DELETE FROM t USING u WHERE t.id = u.id")).contains("multi-table DELETE");
        assertThat(reason("INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING")).contains("ON CONFLICT");
        assertThat(reason("create index i on t (x)")).contains("DDL (CREATE)");
        assertThat(reason("WITH x AS (SELECT 1) UPDATE t SET a = 1")).contains("WITH clause");
        assertThat(reason("CALL p()")).contains("CALL");
    }

    @Test
    void parameterCounterSkipsLiteralsCommentsAndEscapes() {
        assertThat(ParamCounter.count("SELECT '?', \"?\", $$?$$, x ?? y -- ?\n, ? /* ? */")).isEqualTo(1);
    }

    @Test
    void aSecondStatementIsRefusedWhereverItHides() {
        for (String sql : new String[] {
                "UPDATE a SET x = 1 WHERE id = 1; UPDATE b SET y = 2 WHERE id = 2",
                "UPDATE a SET x = 1 WHERE id = 1;UPDATE b SET y = 2",
                "SELECT 1; DELETE FROM b",                        // a pass-through first statement
                "SET search_path = public; UPDATE b SET y = 2",
                "INSERT INTO a VALUES ('it''s'); DELETE FROM b",
                "INSERT INTO a VALUES (E'\\\\'); DELETE FROM b",  // SQL E'\\' is one backslash
                "UPDATE a SET x = $$;$$ WHERE id = 1; DELETE FROM b",
                "UPDATE a SET x$ = 1; DELETE FROM b WHERE y = $1$", // a$ is an identifier, not a dollar quote
                "UPDATE a SET x = 1 /* c */; -- c\n DELETE FROM b",
                "UPDATE a SET x = 1 /* a /* nested */ comment */ ; DELETE FROM b",
                "UPDATE a SET x = 1;;; DELETE FROM b"}) {
            assertThat(reason(sql)).as(sql).contains("more than one statement");
        }
    }

    @Test
    void semicolonsAndCommentsInsideOneStatementAndATrailingSemicolonAreFine() {
        assertThat(SqlRecognizer.recognize("UPDATE a SET x = ';', \"y;\" = E'\\';' WHERE id = 1 -- ; DELETE\n"))
                .isInstanceOf(SqlPlan.Update.class);
        assertThat(SqlRecognizer.recognize("UPDATE a SET x = $t$ ; $$ ; $t$ /* ; DELETE */ WHERE id = 1"))
                .isInstanceOf(SqlPlan.Update.class);
        SqlPlan.Insert insert = (SqlPlan.Insert) SqlRecognizer.recognize("INSERT INTO a VALUES (1);  -- done\n/* ok */;\n");
        assertThat(insert.sql()).isEqualTo("INSERT INTO a VALUES (1)");
        SqlPlan.Delete delete = (SqlPlan.Delete) SqlRecognizer.recognize("DELETE FROM a WHERE id = ? ;");
        assertThat(delete.whereParams()).isEqualTo(1);
        assertThat(SqlRecognizer.recognize("SELECT 1;")).isInstanceOf(SqlPlan.PassThrough.class);
    }

    @Test
    void mySqlStatementsKeepTheirBackticksAndTheirValuesRows() {
        SqlPlan.Insert rows = (SqlPlan.Insert) SqlRecognizer.recognize(
                "INSERT INTO `db`.`order` (`id`, note) VALUES (?, 'a'), (7, ?)");
        assertThat(rows.table()).isEqualTo("`db`.`order`");
        assertThat(rows.columns()).containsExactly("`id`", "note");
        assertThat(rows.rows()).containsExactly(java.util.List.of("?", "'a'"), java.util.List.of("7", "?"));
        SqlPlan.Insert one = (SqlPlan.Insert) SqlRecognizer.recognize("INSERT INTO t VALUES (?, ?)");
        assertThat(one.columns()).isNull();
        assertThat(one.rows()).containsExactly(java.util.List.of("?", "?"));
        SqlPlan.Insert set = (SqlPlan.Insert) SqlRecognizer.recognize("INSERT INTO t SET id = 1, note = ?");
        assertThat(set.columns()).containsExactly("id", "note");
        assertThat(set.rows()).containsExactly(java.util.List.of("1", "?"));
        assertThat(((SqlPlan.Insert) SqlRecognizer.recognize("INSERT INTO t (id) SELECT 1")).rows()).isNull();
        SqlPlan.Update u = (SqlPlan.Update) SqlRecognizer.recognize("UPDATE `t` SET `v` = ? WHERE `id` = ?");
        assertThat(u.table()).isEqualTo("`t`");
        assertThat(u.setColumns()).containsExactly("`v`");
    }

    @Test
    void mySqlStatementsThatCannotBeMadeSafeAreUnsupportedWithAReason() {
        assertThat(reason("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE v = 2")).contains("ON DUPLICATE KEY UPDATE");
        assertThat(reason("INSERT IGNORE INTO t VALUES (1)")).contains("INSERT IGNORE");
        assertThat(reason("REPLACE INTO t VALUES (1)")).contains("REPLACE");
        assertThat(reason("UPDATE a JOIN b ON a.id = b.id SET a.x = b.x")).contains("multi-table UPDATE");
        assertThat(reason("DELETE a FROM a JOIN b ON a.id = b.id")).contains("multi-table DELETE");
        assertThat(reason("UPDATE t SET x = 1 ORDER BY id LIMIT 1")).contains("ORDER BY/LIMIT");
    }

    private static String reason(String sql) {
        return ((SqlPlan.Unsupported) SqlRecognizer.recognize(sql)).reason();
    }
}
