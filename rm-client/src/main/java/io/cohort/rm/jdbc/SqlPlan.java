package io.cohort.rm.jdbc;

import java.util.List;

/**
 * What the RM knows about one SQL string, independent of any database: which kind of statement it
 * is and the pieces the executors rebuild it from. Parsed once per SQL string and cached
 * ({@link SqlPlanCache}). Pieces are JSqlParser's deparsed text; parameter counts say how the
 * original statement's {@code ?} parameters split between the pieces.
 */
sealed interface SqlPlan {

    String sql();

    /** Needs no undo log and no lock check (plain SELECT, SET, SHOW, ...): runs as is. */
    record PassThrough(String sql) implements SqlPlan {
    }

    /** The RM cannot make it safe; fails before it runs. */
    record Unsupported(String sql, String reason, String whatToDo) implements SqlPlan {
    }

    /**
     * Single-table INSERT (VALUES or SELECT).
     *
     * @param table        the target table as written (schema-qualified, quoted, as in the SQL)
     * @param hasReturning the statement has its own RETURNING clause (its result goes to the caller)
     * @param columns      the column list as written, or null when the statement has none
     * @param rows         per VALUES row, each value's expression text; null for INSERT ... SELECT. Only
     *                     databases without RETURNING read it (to find the rows an INSERT wrote)
     */
    record Insert(String sql, String table, boolean hasReturning, List<String> columns, List<List<String>> rows)
            implements SqlPlan {
    }

    /**
     * Single-table UPDATE.
     *
     * @param table        target table as written, without alias
     * @param tableClause  target table with its alias, as it goes after UPDATE / FROM
     * @param setClause    the SET list (without the keyword)
     * @param setColumns   columns assigned, as written
     * @param where        the WHERE condition, or null
     * @param setParams    parameters in the SET list (they come first in the original)
     * @param whereParams  parameters in the WHERE condition (they follow)
     * @param keyPins      the WHERE's top-level {@code column = ?} and {@code column = <integer>} conditions
     *                     (AND-ed), in order: where they pin the whole primary key, the RM knows the row's
     *                     lock key before the statement runs ({@link KeyPinnedUpdate})
     */
    record Update(String sql, String table, String tableClause, String setClause, List<String> setColumns,
                  String where, int setParams, int whereParams, boolean hasReturning, List<KeyPin> keyPins)
            implements SqlPlan {
    }

    /**
     * One {@code column = value} condition AND-ed at the top of a WHERE.
     *
     * @param column     the column as written, unquoted
     * @param paramIndex the statement's 1-based parameter index of the value, or 0 for a literal
     * @param literal    the integer literal as written, or null for a parameter
     */
    record KeyPin(String column, int paramIndex, String literal) {
    }

    /** Single-table DELETE. */
    record Delete(String sql, String table, String tableClause, String where, int whereParams,
                  boolean hasReturning) implements SqlPlan {
    }

    /**
     * Single-table SELECT ... FOR UPDATE / FOR NO KEY UPDATE / FOR SHARE.
     *
     * @param keySelect     the same statement selecting {@link #PK_PLACEHOLDER} instead of its columns
     * @param leadingParams parameters in the select list, which the key select does not have
     */
    record LockingSelect(String sql, String table, String keySelect, int leadingParams) implements SqlPlan {
    }

    /** Replaced by the primary-key column list in {@link LockingSelect#keySelect()}. */
    String PK_PLACEHOLDER = "cohort_pk_placeholder__";
}
