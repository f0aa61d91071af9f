package io.cohort.rm.jdbc;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * Everything about the SQL path and the undo log that differs between databases. One
 * implementation per database, which holds all of that database's code ({@link PostgresDialect},
 * {@link MySqlDialect}); the default methods are SQL every supported database runs as written.
 */
interface Dialect {

    /**
     * Resolves a table name as written in SQL (maybe schema-qualified or quoted); null if it does not
     * exist. Marks the columns whose type the RM cannot restore exactly ({@link TableMeta#unrestorable()}).
     */
    TableMeta loadTableMeta(Connection connection, String tableAsWritten) throws SQLException;

    String quote(String identifier);

    /** The table's schema-qualified, quoted name. */
    default String qualifiedName(String schema, String table) {
        return schema == null ? quote(table) : quote(schema) + "." + quote(table);
    }

    /** Quoted, comma-separated column list of {@code meta}. */
    default String columnList(TableMeta meta) {
        StringJoiner j = new StringJoiner(", ");
        for (ColumnMeta c : meta.columns()) {
            j.add(quote(c.name()));
        }
        return j.toString();
    }

    /**
     * One column as images read it, named as the column: {@code <text of qualifier.column> AS column}
     * ({@code qualifier} may be null). The one place a dialect decides how a value is rendered.
     */
    String imageColumn(ColumnMeta column, String qualifier);

    /**
     * The table's columns as images read them, in catalog order, each named as its column: text the
     * database renders itself, so a value reads the same in the driver's text and binary result
     * formats ({@link ValueCodec}). Every image and current-row read uses it.
     */
    default String imageList(TableMeta meta) {
        return imageList(meta.columns(), null);
    }

    /** As {@link #imageList}, the primary-key columns only, in key order. */
    default String keyImageList(TableMeta meta) {
        List<ColumnMeta> keys = new ArrayList<>();
        for (int k : meta.primaryKeyIndexes()) {
            keys.add(meta.columns().get(k));
        }
        return imageList(keys, null);
    }

    /** {@link #imageColumn} of each of {@code columns}, comma-separated. */
    default String imageList(List<ColumnMeta> columns, String qualifier) {
        StringJoiner j = new StringJoiner(", ");
        for (ColumnMeta c : columns) {
            j.add(imageColumn(c, qualifier));
        }
        return j.toString();
    }

    /**
     * One statement that locks the rows the UPDATE matches, updates exactly those, and returns one
     * row per updated row: its before image ({@link #imageList}) then its after image; or null when
     * the database cannot. Parameters in the statement's own order: the SET list's, then the WHERE
     * condition's.
     */
    String updateWithImages(SqlPlan.Update plan, TableMeta meta);

    /**
     * {@link #updateWithImages} that also inserts the branch's undo log, formed in SQL from the images
     * ({@code undoLog}'s {@link UndoLogTable#insertFormedFrom}, {@code pieces}), in the same statement;
     * it returns the primary-key values (text, key order) of the rows it updated. Its parameters: the
     * UPDATE's, then xid, branch id and log_status. Null where the database cannot
     * ({@link KeyPinnedUpdate}).
     */
    default String updateWritingUndoLog(SqlPlan.Update plan, TableMeta meta, UndoCodec.UpdateLogPieces pieces,
                                        UndoLogTable undoLog) {
        return null;
    }

    /** Before image: {@code SELECT <columns> FROM <table clause> WHERE <where> FOR UPDATE}. */
    String selectForUpdate(String tableClause, String where, TableMeta meta);

    /** The statement with the table's columns returned after the caller's own RETURNING list, if any. */
    String withReturning(String sql, boolean hasReturning, String[] callerColumns, TableMeta meta);

    /**
     * Current rows by primary key: {@code rows} keys bound in key-column order, as image text. Each
     * result row is the 1-based number of the key it matched (or NULL: matched by its key's text),
     * then {@link #imageList}. Locked, or not locked (the last committed values).
     */
    String selectByKeys(TableMeta meta, int rows, boolean lock);

    /**
     * Whether pairs of image values are the same value: for each column, two texts bound one after
     * the other, one boolean column back. Both are rendered by the same session, so texts written
     * under other session settings (time zone, interval style) compare by value.
     */
    String sameValues(List<ColumnMeta> columns);

    /**
     * Re-inserts deleted rows with their original values, identity columns included: {@code values} are
     * the columns' {@link #writeValue} expressions.
     */
    String restoreInsert(String qualifiedTable, String columnList, List<String> values);

    /** The SQL that turns one bound image text into the value written to {@code column}. */
    String writeValue(ColumnMeta column);

    /** {@code column = <the bound image text as the column's value>}: how rows are found by primary key. */
    String keyMatch(ColumnMeta column);

    /** Binds an image text (null for SQL NULL) where {@link #writeValue} or {@link #keyMatch} put a parameter. */
    default void bindImage(PreparedStatement ps, int index, String value) throws SQLException {
        ValueCodec.bind(ps, index, value);
    }

    /**
     * Prepares {@code connection}'s session for writing image texts of {@code meta} back (MySQL: pins
     * the time zone to UTC while TIMESTAMP values are written); the result undoes that.
     */
    default SessionPin pinForWrites(Connection connection, TableMeta meta) throws SQLException {
        return () -> { };
    }

    /** Undoes what {@link #pinForWrites} changed in a session. */
    @FunctionalInterface
    interface SessionPin extends AutoCloseable {
        @Override
        void close() throws SQLException;
    }

    // ---- databases without RETURNING ----

    /**
     * Whether INSERT, UPDATE and DELETE can return every column ({@code RETURNING}). Without it the executors
     * read the images around the statement: {@code SELECT ... FOR UPDATE} before it, and the rows by
     * primary key after it.
     */
    default boolean hasReturning() {
        return true;
    }

    /**
     * Rows an INSERT just wrote, found by the key expressions it wrote them with: {@code keyExpressions}
     * holds one array per row, in primary-key order (its parameters are bound in that order). Each
     * result row is the 1-based number of its key, then {@link #imageList}; locked.
     */
    default String selectByKeyExpressions(TableMeta meta, List<String[]> keyExpressions) {
        throw new UnsupportedOperationException("this database returns INSERT images with RETURNING");
    }

    /**
     * No parameters: the first auto-increment value the session's last INSERT generated, the increment
     * between its values, and whether an INSERT ... SELECT's values are consecutive too (true), not only
     * those of an INSERT ... VALUES.
     */
    default String generatedKeyRange() {
        throw new UnsupportedOperationException("this database returns INSERT images with RETURNING");
    }

    // ---- the RM's own tables (UndoLogTable writes the SQL; these are the parts that differ) ----

    /** {@code INSERT INTO table (columns) VALUES (values)} that inserts nothing, without error, when the row's key exists. */
    String insertUnlessDuplicate(String table, String columns, String values);

    /**
     * The timestamp one bound parameter (a number of milliseconds) before now, by the database's clock,
     * comparable with the RM's TIMESTAMP columns.
     */
    String millisecondsAgo();

    /**
     * {@code (xid, branch_id) IN (...)} for {@code count} branches, whose parameters
     * {@link #bindBranchKeys} binds: one statement for a whole batch.
     */
    String branchKeysIn(int count);

    /** The name of the undo log's unique key on (xid, branch_id) where statements name it; null where they don't. */
    default String undoLogBranchKey() {
        return null;
    }

    /** Whether the exception says an index named in the statement does not exist. */
    default boolean isUnknownIndex(SQLException e) {
        return false;
    }

    /**
     * The undo-log table as a statement on branch keys ({@link #branchKeysIn}) names it after
     * {@code UPDATE} or {@code FROM}: a plan that reads exactly those keys, so a write locks only the
     * batch's own rows.
     */
    default String undoLogByBranchKeys(String undoTable) {
        return undoTable;
    }

    /** {@code DELETE FROM} the undo-log table, for a delete on branch keys; see {@link #undoLogByBranchKeys}. */
    default String deleteFromUndoLogByBranchKeys(String undoTable) {
        return "DELETE FROM " + undoTable;
    }

    /** Binds the branches {@code xids[i]}, {@code branchIds[i]} where {@link #branchKeysIn} put parameters, from {@code index}. */
    void bindBranchKeys(Connection connection, PreparedStatement ps, int index, String[] xids, long[] branchIds)
            throws SQLException;

    /**
     * {@code statement} followed by COMMIT of the connection's transaction, sent in one round trip, or
     * null when this database (or its driver) cannot take two statements in one. The statement must
     * leave the driver knowing the transaction ended, so that {@code Connection.commit()} after it
     * sends nothing.
     */
    default String thenCommit(String statement) {
        return null;
    }

    /**
     * A statement that lets the connection's transaction commit without waiting for its flush to
     * disk (the server still writes it, in log order), or null where one transaction cannot ask that.
     */
    default String commitWithoutFlushWait() {
        return null;
    }

    /**
     * Whether a locking read by primary key ({@code SELECT ... FOR UPDATE}) of a row another
     * transaction has inserted and not yet committed waits for that transaction to end (InnoDB: it
     * waits, then sees the row), rather than finding no row at once (PostgreSQL). A rollback that
     * reads the rows of a branch whose images the TC held relies on that wait to see a local commit
     * still in flight, so where the read does not wait a branch that inserts keeps its undo log as a
     * row (see {@code ConnectionProxy#commitBranch}).
     */
    boolean lockingReadWaitsForInsertsInFlight();

    /** Whether the exception is a unique-key violation. */
    boolean isUniqueViolation(SQLException e);

    /** Whether the exception says a table does not exist. */
    boolean isUndefinedTable(SQLException e);

    /** The file in {@code sql/rm/} (in the jar: {@code db/rm/}) that creates the RM's tables on this database. */
    String ddlScript();
}
