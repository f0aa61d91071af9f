package io.cohort.rm.sql;

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

    private static String reason(String sql) {
        return ((SqlPlan.Unsupported) SqlRecognizer.recognize(sql)).reason();
    }
}
