package io.cohort.rm.jdbc;

import java.util.List;

/**
 * What one statement changed in one table, enough to undo it: every column (name and type), the
 * primary key, and the rows before and after as encoded values ({@link ValueCodec}),
 * each row aligned with {@link #columns()}. INSERT has no before rows, DELETE no after rows.
 */
record UndoRecord(Op op, String schema, String table, List<ColumnMeta> columns, List<String> primaryKey,
                         List<String[]> before, List<String[]> after) {

    enum Op { INSERT, UPDATE, DELETE }

    UndoRecord {
        columns = List.copyOf(columns);
        primaryKey = List.copyOf(primaryKey);
        before = List.copyOf(before);
        after = List.copyOf(after);
    }
}
