package io.cohort.rm.jdbc;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/** What an executor works with: the real connection, the resource and the branch being built. */
record ExecContext(Connection raw, Resource resource, BranchBuffer buffer) {

    /** The XID, or null under a global lock only. */
    String xid() {
        return buffer.xid();
    }

    TableMeta meta(String tableAsWritten) throws SQLException {
        return resource.tableMetas().get(raw, tableAsWritten);
    }

    /** Binds the invocation's parameters: target index i gets original index {@code mapping[i-1]}. */
    static void bind(PreparedStatement ps, ParamLog params, int[] mapping) throws SQLException {
        if (params == null) {
            if (mapping.length > 0) {
                throw new SQLException("The statement has parameters but none were recorded: prepare it inside the "
                        + "global transaction (or under GlobalLockContext)", "07001");
            }
            return;
        }
        for (int i = 0; i < mapping.length; i++) {
            params.bind(ps, i + 1, mapping[i]);
        }
    }

    static int[] range(int from, int count) {
        int[] out = new int[count];
        for (int i = 0; i < count; i++) {
            out[i] = from + i;
        }
        return out;
    }

    /** Reads the table's image columns ({@code Dialect#imageList}) from {@code rs}, starting at column {@code offset + 1}. */
    static String[] row(ResultSet rs, TableMeta meta, int offset) throws SQLException {
        String[] row = new String[meta.columns().size()];
        for (int i = 0; i < row.length; i++) {
            row[i] = ValueCodec.read(rs, offset + i + 1);
        }
        return row;
    }

    /** Reads every row of {@code rs}, the table's columns starting after {@code offset} columns. */
    static List<String[]> rows(ResultSet rs, TableMeta meta, int offset) throws SQLException {
        List<String[]> out = new ArrayList<>();
        while (rs.next()) {
            out.add(row(rs, meta, offset));
        }
        return out;
    }

    /** Adds the rows' primary keys to the branch's lock keys. */
    void lock(TableMeta meta, List<String[]> rows) {
        String table = meta.lockName();
        for (String[] row : rows) {
            buffer.addKey(table, meta.lockRow(row));
        }
    }
}
