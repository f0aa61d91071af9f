package io.cohort.rm.jdbc;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What the TC keeps for a branch, as the branch's application data: registered with the branch,
 * made durable with it, and sent back with each of its phase-2 commands. Two forms:
 * <ul>
 *   <li>the tables the branch wrote ({@code cohort-tables/1}, then one table name per line, UTF-8),
 *       when its undo log is a row in the application's own database. That row can be altered
 *       there; this copy is what a rollback checks the row's tables against, so an altered row
 *       cannot make the RM write to another table;</li>
 *   <li>the tables and the undo log itself ({@code cohort-undo/1}, the byte length of the table
 *       list in decimal, a newline, the table list as above, then the undo log as
 *       {@link UndoCodec} encoded it), when the TC holds the branch's images: a two-phase branch
 *       then writes no undo-log row at all (see {@code ConnectionProxy#commitBranch}).</li>
 * </ul>
 */
final class BranchData {

    private static final String TABLES_HEADER = "cohort-tables/1";
    private static final String UNDO_HEADER = "cohort-undo/1\n";
    private static final byte[] UNDO_HEADER_BYTES = UNDO_HEADER.getBytes(StandardCharsets.UTF_8);

    /**
     * The data of one branch as the TC returned it.
     *
     * @param tables the tables it wrote, or null when none were recorded (an RM older than this check)
     * @param images its undo log when the TC holds it, else null (the undo log is a row in the database)
     */
    record Recorded(Set<String> tables, byte[] images) {
        static final Recorded NONE = new Recorded(null, null);
    }

    private BranchData() {
    }

    /** The name of a record's table as the check compares it: {@code table}, or {@code schema.table} outside public. */
    static String name(String schema, String table) {
        return schema == null || schema.equals("public") ? table : schema + "." + table;
    }

    /** The tables {@code records} wrote. */
    static byte[] tables(Collection<UndoRecord> records) {
        Set<String> names = new LinkedHashSet<>();
        for (UndoRecord r : records) {
            names.add(name(r.schema(), r.table()));
        }
        return (TABLES_HEADER + "\n" + String.join("\n", names)).getBytes(StandardCharsets.UTF_8);
    }

    /** The tables {@code records} wrote and {@code undoLog}, their encoded images, for the TC to hold. */
    static byte[] tablesAndImages(Collection<UndoRecord> records, byte[] undoLog) {
        byte[] tables = tables(records);
        byte[] length = (tables.length + "\n").getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[UNDO_HEADER_BYTES.length + length.length + tables.length + undoLog.length];
        int at = 0;
        for (byte[] part : List.of(UNDO_HEADER_BYTES, length, tables, undoLog)) {
            System.arraycopy(part, 0, out, at, part.length);
            at += part.length;
        }
        return out;
    }

    /**
     * The data recorded for a branch; {@link Recorded#NONE} for empty application data (a branch
     * registered by an RM older than the table check, whose rollback is not checked).
     *
     * @throws IllegalArgumentException if the data is in neither form
     */
    static Recorded decode(byte[] applicationData) {
        if (applicationData == null || applicationData.length == 0) {
            return Recorded.NONE;
        }
        if (!startsWith(applicationData, UNDO_HEADER_BYTES)) {
            return new Recorded(decodeTables(applicationData), null);
        }
        int newline = UNDO_HEADER_BYTES.length;
        while (newline < applicationData.length && applicationData[newline] != '\n') {
            newline++;
        }
        int length;
        try {
            length = Integer.parseInt(new String(applicationData, UNDO_HEADER_BYTES.length,
                    newline - UNDO_HEADER_BYTES.length, StandardCharsets.US_ASCII));
        } catch (NumberFormatException e) {
            length = -1;
        }
        int tablesStart = newline + 1;
        if (length < 0 || tablesStart + length > applicationData.length) {
            throw new IllegalArgumentException("the branch's application data is not a table list and undo log"
                    + " (a table list's length expected after '" + UNDO_HEADER.strip() + "')");
        }
        Set<String> tables = decodeTables(Arrays.copyOfRange(applicationData, tablesStart, tablesStart + length));
        return new Recorded(tables, Arrays.copyOfRange(applicationData, tablesStart + length, applicationData.length));
    }

    private static Set<String> decodeTables(byte[] data) {
        List<String> lines = List.of(new String(data, StandardCharsets.UTF_8).split("\n", -1));
        if (!lines.get(0).equals(TABLES_HEADER)) {
            throw new IllegalArgumentException("the branch's application data is not a table list ('" + TABLES_HEADER
                    + "' expected)");
        }
        return new LinkedHashSet<>(lines.subList(1, lines.size()));
    }

    private static boolean startsWith(byte[] data, byte[] prefix) {
        return data.length >= prefix.length && Arrays.equals(data, 0, prefix.length, prefix, 0, prefix.length);
    }
}
