package io.cohort.rm;

import io.cohort.testsupport.TestPostgres;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/** A fresh PostgreSQL database with the undo_log table, and helpers to read whole tables. */
public final class PgFixture {

    private PgFixture() {
    }

    public static String createDatabase(String prefix) {
        return TestPostgres.get().createDatabase(prefix);
    }

    public static void applyUndoLogDdl(DataSource ds) throws SQLException, IOException {
        try (InputStream in = PgFixture.class.getResourceAsStream("/db/rm/postgresql.sql")) {
            exec(ds, new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    public static void exec(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            c.setAutoCommit(true);
            s.execute(sql);
        }
    }

    /** Every row of {@code table} as text, ordered by {@code orderBy}. */
    public static List<List<String>> rows(DataSource ds, String table, String orderBy) throws SQLException {
        List<List<String>> out = new ArrayList<>();
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT * FROM " + table + " ORDER BY " + orderBy)) {
            ResultSetMetaData md = rs.getMetaData();
            while (rs.next()) {
                List<String> row = new ArrayList<>();
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    row.add(md.getColumnName(i) + "=" + rs.getString(i));
                }
                out.add(row);
            }
        }
        return out;
    }

    public static long count(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
