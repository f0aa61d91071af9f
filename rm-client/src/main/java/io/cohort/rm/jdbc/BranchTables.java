package io.cohort.rm.jdbc;

import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The tables a branch wrote in phase 1, as the branch's application data: registered at the TC with
 * the branch and sent back with each of its phase-2 commands. The undo-log row lives in the
 * application's own database, where it can be altered; this copy, kept by the TC, is what a rollback
 * checks the row's tables against, so an altered row cannot make the RM write to another table.
 * Format: {@code cohort-tables/1} then one table name per line (UTF-8).
 */
final class BranchTables {

    private static final String HEADER = "cohort-tables/1";

    private BranchTables() {
    }

    /** The name of a record's table as the check compares it: {@code table}, or {@code schema.table} outside public. */
    static String name(String schema, String table) {
        return schema == null || schema.equals("public") ? table : schema + "." + table;
    }

    static byte[] encode(Collection<UndoRecord> records) {
        Set<String> names = new LinkedHashSet<>();
        for (UndoRecord r : records) {
            names.add(name(r.schema(), r.table()));
        }
        return (HEADER + "\n" + String.join("\n", names)).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * The tables recorded for a branch, or null when none were (empty application data: a branch
     * registered by an RM older than this check, whose rollback is not checked).
     *
     * @throws IllegalArgumentException if the data is not in this format
     */
    static Set<String> decode(byte[] applicationData) {
        if (applicationData == null || applicationData.length == 0) {
            return null;
        }
        List<String> lines = List.of(new String(applicationData, StandardCharsets.UTF_8).split("\n", -1));
        if (!lines.get(0).equals(HEADER)) {
            throw new IllegalArgumentException("the branch's application data is not a table list ('" + HEADER
                    + "' expected)");
        }
        return new LinkedHashSet<>(lines.subList(1, lines.size()));
    }
}
