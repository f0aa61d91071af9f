package io.cohort.tc.store.postgres;

import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.store.GlobalQuery;
import io.cohort.tc.store.Page;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * The paged listings of the REST API. A page and its total come from one query
 * ({@code count(*) OVER ()}); only a page past the end needs a second query for the total.
 */
final class Listings {

    static Page<GlobalTransaction> globals(Connection c, GlobalQuery query, int page, int size) throws SQLException {
        // Only the conditions that are set become SQL: the statement text names its own filter.
        StringBuilder where = new StringBuilder();
        List<Object> params = new ArrayList<>();
        if (!query.statuses().isEmpty()) {
            condition(where, "status = ANY (?)");
            params.add(c.createArrayOf("int2", query.statuses().stream().map(s -> (short) s.code()).toArray()));
            if (query.statuses().stream().noneMatch(GlobalStatus::isFinal)) {
                condition(where, "finished_at IS NULL"); // the same rows, through the index of unfinished ones
            }
        }
        if (!query.nameContains().isEmpty()) {
            condition(where, "strpos(lower(name), lower(?)) > 0");
            params.add(query.nameContains());
        }
        if (!query.applicationId().isEmpty()) {
            condition(where, "application_id = ?");
            params.add(query.applicationId());
        }
        if (query.beganBeforeMs() > 0) {
            condition(where, "begin_time < ?");
            params.add(Rows.timestamp(query.beganBeforeMs()));
        }
        List<GlobalTransaction> items = new ArrayList<>();
        long total = 0;
        try (PreparedStatement ps = c.prepareStatement(Sql.LIST_GLOBALS_SELECT + where + Sql.GLOBAL_ORDER)) {
            int i = bind(ps, params);
            ps.setInt(i++, size);
            ps.setLong(i, (long) page * size);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    items.add(Rows.global(rs));
                    total = rs.getLong(11);
                }
            }
        }
        if (items.isEmpty() && page > 0) {
            try (PreparedStatement ps = c.prepareStatement(Sql.COUNT_GLOBALS + where)) {
                bind(ps, params);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    total = rs.getLong(1);
                }
            }
        }
        return new Page<>(items, page, size, total);
    }

    private static void condition(StringBuilder where, String condition) {
        where.append(where.isEmpty() ? " WHERE " : " AND ").append(condition);
    }

    private static int bind(PreparedStatement ps, List<Object> params) throws SQLException {
        int i = 1;
        for (Object p : params) {
            ps.setObject(i++, p);
        }
        return i;
    }

    static Page<RowLock> locks(Connection c, String resourceIdOrNull, int page, int size) throws SQLException {
        boolean all = resourceIdOrNull == null;
        List<RowLock> items = new ArrayList<>();
        long total = 0;
        try (PreparedStatement ps = c.prepareStatement(all ? Sql.LIST_LOCKS : Sql.LIST_LOCKS_BY_RESOURCE)) {
            int i = bindFilter(ps, resourceIdOrNull);
            ps.setInt(i++, size);
            ps.setLong(i, (long) page * size);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    items.add(Rows.lock(rs, 1));
                    total = rs.getLong(7);
                }
            }
        }
        if (items.isEmpty() && page > 0) {
            total = count(c, all ? Sql.COUNT_LOCKS : Sql.COUNT_LOCKS_BY_RESOURCE, resourceIdOrNull);
        }
        return new Page<>(items, page, size, total);
    }

    static void checkPage(int page, int size) {
        if (page < 0) {
            throw new IllegalArgumentException("page must be 0 or more, was " + page);
        }
        if (size < 1) {
            throw new IllegalArgumentException("size must be 1 or more, was " + size);
        }
    }

    /** Binds the optional filter as parameter 1; returns the next parameter index. */
    private static int bindFilter(PreparedStatement ps, Object filterOrNull) throws SQLException {
        if (filterOrNull == null) {
            return 1;
        }
        ps.setObject(1, filterOrNull);
        return 2;
    }

    private static long count(Connection c, String sql, Object filterOrNull) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bindFilter(ps, filterOrNull);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private Listings() {
    }
}
