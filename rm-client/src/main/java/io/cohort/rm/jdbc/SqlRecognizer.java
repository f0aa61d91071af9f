package io.cohort.rm.jdbc;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import net.sf.jsqlparser.JSQLParserException;
import net.sf.jsqlparser.expression.Expression;
import net.sf.jsqlparser.expression.JdbcParameter;
import net.sf.jsqlparser.expression.LongValue;
import net.sf.jsqlparser.expression.operators.conditional.AndExpression;
import net.sf.jsqlparser.expression.operators.relational.EqualsTo;
import net.sf.jsqlparser.expression.operators.relational.ExpressionList;
import net.sf.jsqlparser.parser.CCJSqlParserUtil;
import net.sf.jsqlparser.schema.Column;
import net.sf.jsqlparser.schema.Table;
import net.sf.jsqlparser.statement.Statement;
import net.sf.jsqlparser.statement.delete.Delete;
import net.sf.jsqlparser.statement.insert.Insert;
import net.sf.jsqlparser.statement.select.PlainSelect;
import net.sf.jsqlparser.statement.select.Select;
import net.sf.jsqlparser.statement.select.SelectItem;
import net.sf.jsqlparser.statement.select.Values;
import net.sf.jsqlparser.statement.update.Update;
import net.sf.jsqlparser.statement.update.UpdateSet;

/**
 * Turns SQL text into a {@link SqlPlan}. A cheap look at the first keyword settles most statements
 * (plain SELECTs are never parsed); INSERT, UPDATE, DELETE and locking SELECTs are parsed with
 * JSqlParser and checked for what AT mode cannot make safe.
 */
final class SqlRecognizer {

    private static final Pattern LOCKING_CLAUSE =
            Pattern.compile("(?is)\\bFOR\\s+(NO\\s+KEY\\s+UPDATE|UPDATE|KEY\\s+SHARE|SHARE)\\b");
    /** An integer literal that is its own canonical text (so the server's text of the value it pins is the same). */
    private static final Pattern CANONICAL_INTEGER = Pattern.compile("0|[1-9][0-9]{0,17}");
    private static final Set<String> PASS_THROUGH = Set.of("VALUES", "TABLE", "SHOW", "SET", "RESET", "EXPLAIN",
            "DECLARE", "FETCH", "CLOSE", "MOVE", "LISTEN", "UNLISTEN", "NOTIFY", "LOCK", "DISCARD", "DEALLOCATE",
            "ANALYZE");
    private static final Set<String> DDL = Set.of("CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT", "REVOKE",
            "COMMENT", "RENAME", "REINDEX", "CLUSTER", "VACUUM", "REFRESH", "SECURITY", "IMPORT");
    private static final Set<String> TRANSACTION_CONTROL = Set.of("BEGIN", "START", "COMMIT", "END", "ROLLBACK",
            "ABORT", "SAVEPOINT", "RELEASE", "PREPARE");

    private SqlRecognizer() {
    }

    static SqlPlan recognize(String text) {
        int semicolon = SqlLexer.firstSemicolon(text);
        if (semicolon >= 0 && !SqlLexer.onlyCommentsFrom(text, semicolon)) {
            // pgJDBC would run every statement, but the RM makes only the one it parses safe (or runs a
            // statement rebuilt from it alone): a second statement would run without an undo log or not at all.
            return new SqlPlan.Unsupported(text, "the SQL string holds more than one statement, and the RM makes "
                    + "one statement at a time safe", "Run each statement with its own execute() call, or add them "
                    + "one by one to a batch (addBatch).");
        }
        // One statement, without its terminating ';' and trailing comments (they would end up inside rewrites).
        String sql = semicolon >= 0 ? text.substring(0, semicolon) : text;
        String keyword = firstKeyword(sql);
        if (keyword.equals("SELECT")) {
            return LOCKING_CLAUSE.matcher(sql).find() ? parse(sql) : new SqlPlan.PassThrough(sql);
        }
        if (keyword.equals("INSERT") || keyword.equals("UPDATE") || keyword.equals("DELETE") || keyword.equals("WITH")) {
            return parse(sql);
        }
        if (PASS_THROUGH.contains(keyword)) {
            return new SqlPlan.PassThrough(sql);
        }
        if (DDL.contains(keyword)) {
            return new SqlPlan.Unsupported(sql, "DDL (" + keyword + ") cannot be undone by an undo log",
                    "Run schema changes outside global transactions.");
        }
        if (keyword.equals("REPLACE")) {
            return new SqlPlan.Unsupported(sql, "REPLACE deletes the rows it collides with, whose before image the RM "
                    + "cannot take", "Select first and then INSERT or UPDATE explicitly.");
        }
        if (TRANSACTION_CONTROL.contains(keyword)) {
            return new SqlPlan.Unsupported(sql, "transaction control in SQL text (" + keyword
                    + ") bypasses the RM's commit, which registers the branch and writes its undo log",
                    "Use Connection.commit()/rollback()/setSavepoint() instead.");
        }
        return new SqlPlan.Unsupported(sql, "the RM does not know what a " + keyword + " statement changes",
                "Use plain INSERT/UPDATE/DELETE, or run it outside the global transaction.");
    }

    /** The first word, upper-case, after whitespace, comments and opening parentheses. */
    static String firstKeyword(String sql) {
        int i = 0;
        int len = sql.length();
        while (i < len) {
            char c = sql.charAt(i);
            if (Character.isWhitespace(c) || c == '(') {
                i++;
            } else if (c == '-' && i + 1 < len && sql.charAt(i + 1) == '-') {
                int nl = sql.indexOf('\n', i);
                i = nl < 0 ? len : nl + 1;
            } else if (c == '/' && i + 1 < len && sql.charAt(i + 1) == '*') {
                int end = sql.indexOf("*/", i + 2);
                i = end < 0 ? len : end + 2;
            } else {
                break;
            }
        }
        int start = i;
        while (i < len && Character.isLetter(sql.charAt(i))) {
            i++;
        }
        return sql.substring(start, i).toUpperCase(Locale.ROOT);
    }

    private static SqlPlan parse(String sql) {
        Statement statement;
        try {
            statement = CCJSqlParserUtil.parse(sql);
        } catch (JSQLParserException | RuntimeException e) {
            String why = e.getMessage() == null ? e.toString() : e.getMessage().split("\n")[0];
            return new SqlPlan.Unsupported(sql, "the SQL parser could not read it (" + why + ")",
                    "Write it in plainer syntax, or run it outside the global transaction.");
        }
        if (statement instanceof Insert insert) {
            return insert(sql, insert);
        }
        if (statement instanceof Update update) {
            return update(sql, update);
        }
        if (statement instanceof Delete delete) {
            return delete(sql, delete);
        }
        if (statement instanceof Select select) {
            return lockingSelect(sql, select);
        }
        return new SqlPlan.Unsupported(sql, "the RM does not know what a " + statement.getClass().getSimpleName()
                + " statement changes", "Use plain INSERT/UPDATE/DELETE, or run it outside the global transaction.");
    }

    private static SqlPlan insert(String sql, Insert insert) {
        if (insert.getWithItemsList() != null && !insert.getWithItemsList().isEmpty()) {
            return withClause(sql);
        }
        if (insert.getConflictAction() != null || insert.getDuplicateUpdateSets() != null) {
            return new SqlPlan.Unsupported(sql, "INSERT ... ON CONFLICT / ON DUPLICATE KEY UPDATE may update existing "
                    + "rows, whose before image the RM cannot take", "Select first and then INSERT or UPDATE explicitly.");
        }
        if (insert.isModifierIgnore()) {
            return new SqlPlan.Unsupported(sql, "INSERT IGNORE skips rows that already exist, and the RM cannot tell "
                    + "them from the rows it inserted", "Select first and then INSERT only the new rows.");
        }
        List<String> columns = null;
        if (insert.getColumns() != null) {
            columns = new ArrayList<>();
            for (Column c : insert.getColumns()) {
                columns.add(c.getColumnName());
            }
        }
        List<List<String>> rows = null;
        if (notEmpty(insert.getSetUpdateSets())) {
            // MySQL's INSERT ... SET a = 1, b = 2: one row.
            columns = new ArrayList<>();
            List<String> row = new ArrayList<>();
            for (UpdateSet set : insert.getSetUpdateSets()) {
                for (Column c : set.getColumns()) {
                    columns.add(c.getColumnName());
                }
                for (Expression e : set.getValues()) {
                    row.add(e.toString());
                }
            }
            rows = List.of(List.copyOf(row));
        } else if (insert.getSelect() instanceof Values values) {
            rows = valuesRows(values.getExpressions());
        }
        return new SqlPlan.Insert(sql, tableName(insert.getTable()), insert.getReturningClause() != null,
                columns == null ? null : List.copyOf(columns), rows);
    }

    /** {@code VALUES (a, b), (c, d)} holds one list per row; {@code VALUES (a, b)} is the row itself. */
    private static List<List<String>> valuesRows(ExpressionList<?> values) {
        List<List<String>> rows = new ArrayList<>();
        boolean listOfRows = !values.isEmpty() && values.stream().allMatch(e -> e instanceof ExpressionList<?>);
        if (listOfRows) {
            for (Expression row : values) {
                rows.add(texts((ExpressionList<?>) row));
            }
        } else {
            rows.add(texts(values));
        }
        return List.copyOf(rows);
    }

    private static List<String> texts(ExpressionList<?> list) {
        List<String> out = new ArrayList<>();
        for (Expression e : list) {
            out.add(e.toString());
        }
        return List.copyOf(out);
    }

    private static SqlPlan update(String sql, Update update) {
        if (update.getWithItemsList() != null && !update.getWithItemsList().isEmpty()) {
            return withClause(sql);
        }
        if (update.getFromItem() != null || notEmpty(update.getJoins()) || notEmpty(update.getStartJoins())) {
            return multiTable(sql, "UPDATE");
        }
        if (notEmpty(update.getOrderByElements()) || update.getLimit() != null) {
            return new SqlPlan.Unsupported(sql, "UPDATE with ORDER BY/LIMIT", "Select the keys first, then update by key.");
        }
        List<String> setColumns = new ArrayList<>();
        List<String> setTexts = new ArrayList<>();
        int setParams = 0;
        for (UpdateSet set : update.getUpdateSets()) {
            for (Column c : set.getColumns()) {
                setColumns.add(c.getColumnName());
            }
            String text = set.toString();
            setTexts.add(text);
            setParams += ParamCounter.count(text);
        }
        String where = update.getWhere() == null ? null : update.getWhere().toString();
        int whereParams = ParamCounter.count(where);
        if (setParams + whereParams != ParamCounter.count(sql)) {
            return new SqlPlan.Unsupported(sql, "it has parameters outside its SET list and WHERE condition",
                    "Move parameters into SET or WHERE.");
        }
        return new SqlPlan.Update(sql, tableName(update.getTable()), update.getTable().toString(),
                String.join(", ", setTexts), List.copyOf(setColumns), where, setParams, whereParams,
                update.getReturningClause() != null, keyPins(update.getWhere(), setParams));
    }

    /**
     * The {@code column = ?} and {@code column = <integer>} conditions AND-ed at the top of {@code where}
     * (either side), with each parameter's index in the statement: the parameters of the conditions
     * before it are counted in their text, after the SET list's {@code setParams}.
     */
    static List<SqlPlan.KeyPin> keyPins(Expression where, int setParams) {
        List<Expression> conjuncts = new ArrayList<>();
        flattenAnd(where, conjuncts);
        List<SqlPlan.KeyPin> pins = new ArrayList<>();
        int paramsBefore = setParams;
        for (Expression e : conjuncts) {
            if (e instanceof EqualsTo eq) {
                Expression l = eq.getLeftExpression();
                Expression r = eq.getRightExpression();
                SqlPlan.KeyPin pin = l instanceof Column c ? pin(c, r, paramsBefore)
                        : r instanceof Column c ? pin(c, l, paramsBefore) : null;
                if (pin != null) {
                    pins.add(pin);
                }
            }
            paramsBefore += ParamCounter.count(e.toString());
        }
        return List.copyOf(pins);
    }

    private static void flattenAnd(Expression e, List<Expression> out) {
        if (e instanceof AndExpression and) {
            flattenAnd(and.getLeftExpression(), out);
            flattenAnd(and.getRightExpression(), out);
        } else if (e != null) {
            out.add(e);
        }
    }

    /** A pin of {@code column} to {@code value} when it is a parameter or an integer literal written as its own text. */
    private static SqlPlan.KeyPin pin(Column column, Expression value, int paramsBefore) {
        String name = column.getColumnName();
        name = name.length() > 1 && name.startsWith("\"") && name.endsWith("\"")
                ? name.substring(1, name.length() - 1).replace("\"\"", "\"") : name.toLowerCase(Locale.ROOT);
        if (value instanceof JdbcParameter) {
            return new SqlPlan.KeyPin(name, paramsBefore + 1, null);
        }
        if (value instanceof LongValue literal && CANONICAL_INTEGER.matcher(literal.getStringValue()).matches()) {
            return new SqlPlan.KeyPin(name, 0, literal.getStringValue());
        }
        return null;
    }

    private static SqlPlan delete(String sql, Delete delete) {
        if (delete.getWithItemsList() != null && !delete.getWithItemsList().isEmpty()) {
            return withClause(sql);
        }
        if (notEmpty(delete.getUsingList()) || notEmpty(delete.getJoins())
                || (delete.getTables() != null && delete.getTables().size() > 1)) {
            return multiTable(sql, "DELETE");
        }
        if (notEmpty(delete.getOrderByElements()) || delete.getLimit() != null) {
            return new SqlPlan.Unsupported(sql, "DELETE with ORDER BY/LIMIT", "Select the keys first, then delete by key.");
        }
        String where = delete.getWhere() == null ? null : delete.getWhere().toString();
        int whereParams = ParamCounter.count(where);
        if (whereParams != ParamCounter.count(sql)) {
            return new SqlPlan.Unsupported(sql, "it has parameters outside its WHERE condition",
                    "Move parameters into WHERE.");
        }
        return new SqlPlan.Delete(sql, tableName(delete.getTable()), delete.getTable().toString(), where, whereParams,
                delete.getReturningClause() != null);
    }

    private static SqlPlan lockingSelect(String sql, Select select) {
        if (!(select instanceof PlainSelect plain) || plain.getForMode() == null) {
            // The FOR UPDATE text was inside a literal or a sub-select: a plain read.
            return select instanceof PlainSelect || !LOCKING_CLAUSE.matcher(select.toString()).find()
                    ? new SqlPlan.PassThrough(sql)
                    : new SqlPlan.Unsupported(sql, "a locking SELECT over a set operation",
                    "Lock rows with a single-table SELECT ... FOR UPDATE.");
        }
        if (notEmpty(plain.getWithItemsList())) {
            return withClause(sql);
        }
        if (!(plain.getFromItem() instanceof Table table) || notEmpty(plain.getJoins())) {
            return new SqlPlan.Unsupported(sql, "SELECT ... FOR UPDATE over a join or sub-select: global locks are "
                    + "checked for the rows of one table", "Lock each table's rows with its own SELECT ... FOR UPDATE.");
        }
        int leadingParams = 0;
        for (SelectItem<?> item : plain.getSelectItems()) {
            leadingParams += ParamCounter.count(item.toString());
        }
        List<SelectItem<?>> items = new ArrayList<>();
        items.add(SelectItem.from(new Column(SqlPlan.PK_PLACEHOLDER)));
        plain.setSelectItems(items);
        plain.setDistinct(null);
        return new SqlPlan.LockingSelect(sql, tableName(table), plain.toString(), leadingParams);
    }

    private static SqlPlan withClause(String sql) {
        return new SqlPlan.Unsupported(sql, "a WITH clause on a data-modifying statement",
                "Write the statement without WITH (sub-selects in WHERE are fine).");
    }

    private static SqlPlan multiTable(String sql, String kind) {
        return new SqlPlan.Unsupported(sql, "multi-table " + kind + " (FROM/USING/JOIN): the RM takes images of one table",
                "Split it into single-table statements, with sub-selects in WHERE if needed.");
    }

    private static boolean notEmpty(List<?> list) {
        return list != null && !list.isEmpty();
    }

    /** The table as written, with schema, without alias. */
    static String tableName(Table table) {
        return table.getSchemaName() == null ? table.getName() : table.getSchemaName() + "." + table.getName();
    }
}
