package io.cohort.rm.autoconfigure;

import io.cohort.rm.RmConfig;
import io.cohort.rm.jdbc.DataSourceProxy;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates the RM's tables from the script shipped in rm-client.jar ({@code cohort.rm.schema.initialize}).
 * The script only creates what is missing, so applying it on every start is harmless.
 */
final class RmSchema {

    private static final Logger log = LoggerFactory.getLogger(RmSchema.class);

    /** sql/rm/postgresql.sql, packaged by rm-client's build. */
    static final String SCRIPT = "db/rm/postgresql.sql";

    /**
     * Serializes concurrent starts against one database: PostgreSQL's IF NOT EXISTS is not safe when
     * two sessions create the same table at once (one fails on a duplicate catalog row).
     */
    private static final String LOCK = "SELECT pg_advisory_xact_lock(hashtext('cohort.rm.schema'))";

    private RmSchema() {
    }

    /** Applies the script to the database behind {@code proxy}; throws saying what to do when it cannot. */
    static void create(String beanName, DataSourceProxy proxy, RmConfig config) {
        RmConfig defaults = RmConfig.defaults();
        String resourceId = proxy.resourceId();
        // The script names the default tables; creating those under custom names would leave the
        // configured ones missing.
        if (!config.undoTable().equals(defaults.undoTable()) || !config.decisionTable().equals(defaults.decisionTable())) {
            throw new IllegalStateException("cohort.rm.schema.initialize=true creates only the default tables "
                    + defaults.undoTable() + " and " + defaults.decisionTable() + ", but DataSource bean '" + beanName
                    + "' (" + resourceId + ") is configured for " + config.undoTable() + " and " + config.decisionTable()
                    + " (cohort.rm.undo.table, cohort.rm.three-phase.decision-table): create those from "
                    + "sql/rm/postgresql.sql yourself and set cohort.rm.schema.initialize=false");
        }
        String dialectScript = proxy.rmSchemaScript();
        if (!SCRIPT.endsWith("/" + dialectScript)) {
            throw new IllegalStateException("cohort.rm.schema.initialize=true creates the RM's tables on PostgreSQL "
                    + "only, and the database of DataSource bean '" + beanName + "' (" + resourceId + ") is not "
                    + "PostgreSQL: apply sql/rm/" + dialectScript + " to it yourself (also inside rm-client.jar as db/rm/"
                    + dialectScript + ") and set cohort.rm.schema.initialize=false");
        }
        String script = script();
        try (Connection connection = proxy.target().getConnection()) {
            connection.setAutoCommit(false);
            try (Statement statement = connection.createStatement()) {
                statement.execute(LOCK);
                statement.execute(script);
                connection.commit();
            } catch (SQLException | RuntimeException e) {
                connection.rollback();
                throw e;
            }
        } catch (SQLException | RuntimeException e) {
            throw new IllegalStateException("cohort.rm.schema.initialize=true, but the RM's tables could not be created "
                    + "in the database of DataSource bean '" + beanName + "' (" + resourceId + "): "
                    + String.valueOf(e.getMessage()).replaceAll("[\\r\\n]+", " ") + "; let its user create tables "
                    + "there, or apply sql/rm/postgresql.sql yourself and set cohort.rm.schema.initialize=false", e);
        }
        log.info("Cohort RM: tables {} and {} present in the database of DataSource bean '{}' ({})",
                defaults.undoTable(), defaults.decisionTable(), beanName, resourceId);
    }

    private static String script() {
        try (InputStream in = RmSchema.class.getClassLoader().getResourceAsStream(SCRIPT)) {
            if (in == null) {
                throw new IllegalStateException(SCRIPT + " is missing from the classpath (it ships inside rm-client.jar): "
                        + "use an unmodified rm-client.jar, or apply sql/rm/postgresql.sql yourself and set "
                        + "cohort.rm.schema.initialize=false");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + SCRIPT + " from rm-client.jar: " + e.getMessage(), e);
        }
    }
}
