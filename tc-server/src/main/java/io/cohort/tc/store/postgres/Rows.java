package io.cohort.tc.store.postgres;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import java.sql.Array;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Collection;
import java.util.List;

/** Mapping between the model records and table rows, column order as in {@link Sql}. */
final class Rows {

    static GlobalTransaction global(ResultSet rs) throws SQLException {
        TransactionProtocol protocol = TransactionProtocol.forNumber(rs.getShort(4));
        return new GlobalTransaction(
                rs.getString(1),
                rs.getString(2),
                rs.getString(3),
                protocol == null ? TransactionProtocol.UNRECOGNIZED : protocol,
                GlobalStatus.ofCode(rs.getShort(5)),
                millis(rs, 6),
                rs.getLong(7),
                rs.getString(8),
                rs.getString(9),
                millis(rs, 10));
    }

    static Branch branch(ResultSet rs) throws SQLException {
        Array keys = rs.getArray(5);
        return new Branch(
                rs.getString(1),
                rs.getLong(2),
                rs.getString(3),
                rs.getString(4),
                List.of((String[]) keys.getArray()),
                rs.getBytes(6),
                BranchStatus.ofCode(rs.getShort(7)),
                millis(rs, 8),
                rs.getString(9));
    }

    /** A row lock from the six lock columns starting at {@code first}. */
    static RowLock lock(ResultSet rs, int first) throws SQLException {
        return new RowLock(new RowKey(rs.getString(first), rs.getString(first + 1), rs.getString(first + 2)),
                rs.getString(first + 3), rs.getLong(first + 4), millis(rs, first + 5));
    }

    static OffsetDateTime timestamp(long epochMs) {
        return OffsetDateTime.ofInstant(Instant.ofEpochMilli(epochMs), ZoneOffset.UTC);
    }

    static long millis(ResultSet rs, int column) throws SQLException {
        return rs.getObject(column, OffsetDateTime.class).toInstant().toEpochMilli();
    }

    /** The rows as three parallel text arrays (resource, table, pk) for {@code unnest}. */
    static Array[] columns(Connection c, Collection<RowKey> rows) throws SQLException {
        String[] resources = new String[rows.size()];
        String[] tables = new String[rows.size()];
        String[] pks = new String[rows.size()];
        int i = 0;
        for (RowKey row : rows) {
            resources[i] = row.resourceId();
            tables[i] = row.table();
            pks[i++] = row.pk();
        }
        return new Array[] {c.createArrayOf("text", resources), c.createArrayOf("text", tables),
            c.createArrayOf("text", pks)};
    }

    private Rows() {
    }
}
