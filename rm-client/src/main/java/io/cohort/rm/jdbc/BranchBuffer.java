package io.cohort.rm.jdbc;

import io.cohort.protocol.LockKeys;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What one local transaction collected so far: its undo records, in statement order, and the
 * primary keys it wrote or locked, by table. Becomes the branch at commit; dropped at rollback.
 */
final class BranchBuffer {

    private final String xid;
    private final List<UndoRecord> records = new ArrayList<>();
    private final Map<String, Set<String>> keysByTable = new LinkedHashMap<>();

    /** @param xid the global transaction, or null when only checking global locks */
    BranchBuffer(String xid) {
        this.xid = xid;
    }

    String xid() {
        return xid;
    }

    void add(UndoRecord record) {
        records.add(record);
    }

    /** @param key a row token ({@link LockKeys#row}) of {@code table} */
    void addKey(String table, String key) {
        keysByTable.computeIfAbsent(table, t -> new LinkedHashSet<>()).add(key);
    }

    List<UndoRecord> records() {
        return records;
    }

    /** Whether there is anything to register (writes) or check (locks). */
    boolean isEmpty() {
        return records.isEmpty() && keysByTable.isEmpty();
    }

    /** Lock keys, one per table, in the {@link LockKeys} format. */
    List<String> lockKeys() {
        List<String> out = new ArrayList<>(keysByTable.size());
        for (Map.Entry<String, Set<String>> e : keysByTable.entrySet()) {
            out.add(LockKeys.of(e.getKey(), e.getValue()));
        }
        return out;
    }
}
