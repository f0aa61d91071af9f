package io.cohort.rm.jdbc;

import io.cohort.client.RmConnection;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.RmConfig;
import io.micrometer.observation.ObservationRegistry;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import javax.sql.DataSource;

/**
 * One database the RM manages (one wrapped {@link DataSource}), identified to the TC by its
 * resource id. Holds the per-database caches: parsed SQL, table metadata, rewritten SQL.
 */
final class Resource {

    private final String resourceId;
    private final DataSource target;
    private final RmConfig config;
    private final BranchCoordinator coordinator;
    private final String clientId;
    private final Clock clock;
    private final ObservationRegistry observations;
    private final Supplier<RmConnection> connection;
    private final SqlPlanCache plans;
    private final UndoCodec undoCodec;
    private volatile Engine engine;
    private final ConcurrentHashMap<String, String> rewritten = new ConcurrentHashMap<>();

    /** What depends on the database's dialect. */
    private record Engine(Dialect dialect, TableMetaCache tableMetas, UndoLogTable undoLog, ImageApplier images) {
    }

    /**
     * What all resources of one RM share is passed in, not the RM itself, so that the packages below
     * the RM's wiring can use a resource without depending on that wiring. {@code connection}: the RM's
     * command streams, null before it connects.
     */
    Resource(String resourceId, DataSource target, RmConfig config, BranchCoordinator coordinator, String clientId,
            Clock clock, ObservationRegistry observations, Supplier<RmConnection> connection) {
        this.resourceId = resourceId;
        this.target = target;
        this.config = config;
        this.coordinator = coordinator;
        this.clientId = clientId;
        this.clock = clock;
        this.observations = observations;
        this.connection = connection;
        this.plans = new SqlPlanCache(config.sqlCacheSize());
        this.undoCodec = new UndoCodec(config.compressThreshold(), config.maxInflatedBytes(), config.undoLogFormat());
    }

    /**
     * Tells the database's dialect from a connection, once ({@link Dialects}); until a connection could be
     * had (the database was down when the data source was wrapped) it is told at first use.
     */
    private Engine engine() {
        Engine e = engine;
        if (e == null) {
            synchronized (this) {
                e = engine;
                if (e == null) {
                    Dialect dialect;
                    try (Connection c = target.getConnection()) {
                        dialect = Dialects.of(c);
                    } catch (SQLException x) {
                        throw new IllegalStateException("Cannot tell which database resource " + resourceId + " is ("
                                + x.getMessage() + "); the RM needs a connection to it", x);
                    }
                    UndoLogTable undoLog = new UndoLogTable(dialect, config.undoTable(), config.decisionTable());
                    e = new Engine(dialect, new TableMetaCache(dialect), undoLog, new ImageApplier(dialect, undoCodec));
                    engine = e;
                }
            }
        }
        return e;
    }

    /** Tells the dialect now if the database answers; false if it does not (it is told at first use then). */
    boolean detectDialect() {
        try {
            engine();
            return true;
        } catch (IllegalStateException e) {
            return false;
        }
    }

    String resourceId() {
        return resourceId;
    }

    /** The application's own data source, unwrapped. */
    DataSource target() {
        return target;
    }

    /** The database's dialect; throws IllegalStateException while the database cannot be reached to tell it. */
    Dialect dialect() {
        return engine().dialect();
    }

    TableMetaCache tableMetas() {
        return engine().tableMetas();
    }

    SqlPlanCache plans() {
        return plans;
    }

    UndoCodec undoCodec() {
        return undoCodec;
    }

    /** The RM's rows in this database: undo log and three-phase decisions. */
    UndoLogTable undoLog() {
        return engine().undoLog();
    }

    /** Applies undo-log images to this database's rows, backward (rollback) or forward (redo). */
    ImageApplier images() {
        return engine().images();
    }

    RmConfig config() {
        return config;
    }

    BranchCoordinator coordinator() {
        return coordinator;
    }

    String clientId() {
        return clientId;
    }

    /** Where this RM's branches are observed (NOOP: nowhere). */
    ObservationRegistry observations() {
        return observations;
    }

    Clock clock() {
        return clock;
    }

    /**
     * Reopens this RM's command streams now if they wait out a reconnect backoff, and waits (at most
     * the TC call timeout) until every TC replica has welcomed them; whether all did.
     */
    boolean reconnectCommandStreams() {
        RmConnection streams = connection.get();
        return streams != null && streams.reconnectNow();
    }

    /** Rewritten SQL by a key naming the rewrite and the original SQL; built once. */
    String rewritten(String key, Supplier<String> build) {
        String sql = rewritten.get(key);
        if (sql == null) {
            sql = build.get();
            if (rewritten.size() >= config.sqlCacheSize() * 4) {
                rewritten.clear();
            }
            rewritten.put(key, sql);
        }
        return sql;
    }
}
