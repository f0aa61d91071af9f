package io.cohort.tc.store.postgres;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Statement;

/**
 * Applies {@code sql/tc/postgresql.sql} (on the classpath as {@value #RESOURCE}). The DDL is
 * idempotent; an advisory lock makes replicas that start together apply it one after the other,
 * because concurrent {@code CREATE TABLE IF NOT EXISTS} of the same table can still collide.
 */
final class Schema {

    static final String RESOURCE = "db/tc/postgresql.sql";

    static void apply(JdbcRunner jdbc) {
        String ddl = read();
        jdbc.sync("initSchema", null, c -> JdbcRunner.inTransaction(c, tx -> {
            try (Statement s = tx.createStatement()) {
                s.execute(Sql.SCHEMA_LOCK);
                s.execute(ddl);
            }
            tx.commit();
            return null;
        }));
    }

    private static String read() {
        try (InputStream in = Schema.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("TC store schema " + RESOURCE + " is not on the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("Cannot read TC store schema " + RESOURCE + ": " + e.getMessage(), e);
        }
    }

    private Schema() {
    }
}
