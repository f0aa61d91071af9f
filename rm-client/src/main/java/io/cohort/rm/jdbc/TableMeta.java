package io.cohort.rm.jdbc;

import io.cohort.protocol.LockKeys;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A table as the RM needs it: columns in catalog order and the primary key. Immutable; cached per
 * data source ({@link TableMetaCache}). A table without a primary key has an empty {@link #primaryKey()}.
 */
final class TableMeta {

    private final String schema;
    private final String name;
    private final List<ColumnMeta> columns;
    private final List<String> primaryKey;
    private final Map<String, Integer> index = new HashMap<>();
    private final int[] primaryKeyIndexes;
    private final Map<String, String> unrestorable;
    private final String autoIncrement;

    /** A table whose every column the RM can restore exactly. */
    TableMeta(String schema, String name, List<ColumnMeta> columns, List<String> primaryKey) {
        this(schema, name, columns, primaryKey, Map.of());
    }

    /**
     * @param schema       the schema the name resolved to
     * @param name         the table name as stored in the catalog
     * @param columns      every column, in catalog order
     * @param primaryKey   primary-key column names, in key order
     * @param unrestorable columns whose type (or a type inside it) the RM cannot restore exactly, to that type
     */
    TableMeta(String schema, String name, List<ColumnMeta> columns, List<String> primaryKey,
              Map<String, String> unrestorable) {
        this(schema, name, columns, primaryKey, unrestorable, null);
    }

    /** As above; {@code autoIncrement} is the column the database numbers itself (MySQL AUTO_INCREMENT), or null. */
    TableMeta(String schema, String name, List<ColumnMeta> columns, List<String> primaryKey,
              Map<String, String> unrestorable, String autoIncrement) {
        this.schema = schema;
        this.autoIncrement = autoIncrement;
        this.unrestorable = Collections.unmodifiableMap(new LinkedHashMap<>(unrestorable));
        this.name = name;
        this.columns = List.copyOf(columns);
        this.primaryKey = List.copyOf(primaryKey);
        for (int i = 0; i < this.columns.size(); i++) {
            index.putIfAbsent(this.columns.get(i).name().toLowerCase(Locale.ROOT), i);
        }
        this.primaryKeyIndexes = new int[this.primaryKey.size()];
        for (int i = 0; i < primaryKeyIndexes.length; i++) {
            primaryKeyIndexes[i] = indexOf(this.primaryKey.get(i));
        }
    }

    String schema() {
        return schema;
    }

    String name() {
        return name;
    }

    List<ColumnMeta> columns() {
        return columns;
    }

    List<String> primaryKey() {
        return primaryKey;
    }

    /**
     * Columns the RM cannot restore exactly (e.g. {@code money}, whose text depends on the session's
     * locale), each to the offending type, in catalog order: statements that need their images are refused.
     */
    Map<String, String> unrestorable() {
        return unrestorable;
    }

    /** The AUTO_INCREMENT column (MySQL, MariaDB), or null. */
    String autoIncrement() {
        return autoIncrement;
    }

    /** The name used in lock keys and undo records: {@code name} in the default schema, else {@code schema.name}. */
    String lockName() {
        return schema == null || schema.equals("public") ? name : schema + "." + name;
    }

    /** Index in {@link #columns()} of the column named {@code column} (case-insensitive), or -1. */
    int indexOf(String column) {
        return index.getOrDefault(column.toLowerCase(Locale.ROOT), -1);
    }

    /** Indexes of the primary-key columns in {@link #columns()}. Do not modify. */
    int[] primaryKeyIndexes() {
        return primaryKeyIndexes;
    }

    /** The row token ({@link LockKeys#row}) of {@code row}'s primary key: what the branch locks. */
    String lockRow(String[] row) {
        String[] values = new String[primaryKeyIndexes.length];
        for (int i = 0; i < values.length; i++) {
            values[i] = row[primaryKeyIndexes[i]];
        }
        return LockKeys.row(values);
    }

    boolean isPrimaryKey(String column) {
        for (String pk : primaryKey) {
            if (pk.equalsIgnoreCase(column)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return lockName() + columns + " pk" + primaryKey;
    }
}
