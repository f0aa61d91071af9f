package io.cohort.tc.model;

import java.util.ArrayList;
import java.util.List;

/**
 * The identity of one globally locked row: the resource (database), the table and the primary key
 * value (composite keys joined by '_', as the RM sends them).
 */
public record RowKey(String resourceId, String table, String pk) {

    /**
     * Expands RM lock keys ({@code table:pk1,pk2}) into row keys.
     *
     * @throws IllegalArgumentException naming the malformed key
     */
    public static List<RowKey> expand(String resourceId, List<String> lockKeys) {
        List<RowKey> rows = new ArrayList<>();
        for (String key : lockKeys) {
            int colon = key.indexOf(':');
            if (colon <= 0 || colon == key.length() - 1) {
                throw new IllegalArgumentException("Malformed lock key '" + key
                        + "': expected <table>:<pk>[,<pk>...]");
            }
            String table = key.substring(0, colon);
            for (String pk : key.substring(colon + 1).split(",", -1)) {
                if (pk.isEmpty()) {
                    throw new IllegalArgumentException("Malformed lock key '" + key + "': empty primary key value");
                }
                rows.add(new RowKey(resourceId, table, pk));
            }
        }
        return rows;
    }

    /** The form used in messages and the REST API: {@code table:pk}. */
    public String lockKey() {
        return table + ':' + pk;
    }
}
