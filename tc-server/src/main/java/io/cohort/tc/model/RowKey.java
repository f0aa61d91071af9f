package io.cohort.tc.model;

import io.cohort.protocol.LockKeys;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The identity of one globally locked row: the resource (database), the table and the primary key,
 * both in their encoded {@link LockKeys} form as the RM sends them (compared as text, never decoded).
 */
public record RowKey(String resourceId, String table, String pk) {

    /**
     * Expands RM lock keys ({@code table:pk1,pk2}, see {@link LockKeys}) into row keys.
     *
     * @throws IllegalArgumentException naming the malformed key
     */
    public static List<RowKey> expand(String resourceId, List<String> lockKeys) {
        List<RowKey> rows = new ArrayList<>();
        for (String key : lockKeys) {
            LockKeys.Parsed parsed = LockKeys.parse(key);
            for (String pk : parsed.rows()) {
                rows.add(new RowKey(resourceId, parsed.table(), pk));
            }
        }
        return rows;
    }

    // equals and hashCode written out: the lock table compares row keys on every registration and release, and
    // a record's generated ones (method-handle chains on JDK 17) showed in the TC's JFR samples (issue 15).
    @Override
    public boolean equals(Object o) {
        return this == o || o instanceof RowKey k && Objects.equals(pk, k.pk) && Objects.equals(table, k.table)
                && Objects.equals(resourceId, k.resourceId);
    }

    @Override
    public int hashCode() {
        return (Objects.hashCode(resourceId) * 31 + Objects.hashCode(table)) * 31 + Objects.hashCode(pk);
    }

    /** The single-row lock key of this row, used in messages and the REST API: {@code table:pk}. */
    public String lockKey() {
        return table + ':' + pk;
    }
}
