package io.cohort.rm;

import io.micrometer.observation.ObservationRegistry;
import io.cohort.client.RmConnection;
import io.cohort.rm.dialect.Dialect;
import io.cohort.rm.dialect.Dialects;
import io.cohort.rm.dialect.TableMetaCache;
import io.cohort.rm.sql.SqlPlanCache;
import io.cohort.rm.undo.UndoCodec;
import io.cohort.rm.undo.ImageApplier;
import io.cohort.rm.undo.UndoLogTable;
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
public final class Resource {

    private final ResourceManager manager;
    private final String resourceId;
    private final DataSource target;
    private final SqlPlanCache plans;
    private final UndoCodec undoCodec;
    private volatile Engine engine;
    private final ConcurrentHashMap<String, String> rewritten = new ConcurrentHashMap<>();

    /** What depends on the database's dialect. */
    private record Engine(Dialect dialect, TableMetaCache tableMetas, UndoLogTable undoLog, ImageApplier images) {
    }

    Resource(ResourceManager manager, String resourceId, DataSource target) {
        this.manager = manager;
        this.resourceId = resourceId;
        this.target = target;
        RmConfig config = manager.config();
        this.plans = new SqlPlanCache(config.sqlCacheSize());
        this.undoCodec = new UndoCodec(config.compressThreshold(), config.maxInflatedBytes());
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
                    UndoLogTable undoLog = new UndoLogTable(dialect, manager.config().undoTable(),
                            manager.config().decisionTable());
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

    public String resourceId() {
        return resourceId;
    }

    /** The application's own data source, unwrapped. */
    public DataSource target() {
        return target;
    }

    /** The database's dialect; throws IllegalStateException while the database cannot be reached to tell it. */
    public Dialect dialect() {
        return engine().dialect();
    }

    public TableMetaCache tableMetas() {
        return engine().tableMetas();
    }

    public SqlPlanCache plans() {
        return plans;
    }

    public UndoCodec undoCodec() {
        return undoCodec;
    }

    /** The RM's rows in this database: undo log and three-phase decisions. */
    public UndoLogTable undoLog() {
        return engine().undoLog();
    }

    /** Applies undo-log images to this database's rows, backward (rollback) or forward (redo). */
    public ImageApplier images() {
        return engine().images();
    }

    public RmConfig config() {
        return manager.config();
    }

    public BranchCoordinator coordinator() {
        return manager.coordinator();
    }

    public String clientId() {
        return manager.clientId();
    }

    /** Where this RM's branches are observed (NOOP: nowhere). */
    public ObservationRegistry observations() {
        return manager.observations();
    }

    public Clock clock() {
        return manager.clock();
    }

    /**
     * Reopens this RM's command streams now if they wait out a reconnect backoff, and waits (at most
     * the TC call timeout) until every TC replica has welcomed them; whether all did.
     */
    public boolean reconnectCommandStreams() {
        RmConnection connection = manager.connection();
        return connection != null && connection.reconnectNow();
    }

    /** Rewritten SQL by a key naming the rewrite and the original SQL; built once. */
    public String rewritten(String key, Supplier<String> build) {
        String sql = rewritten.get(key);
        if (sql == null) {
            sql = build.get();
            if (rewritten.size() >= manager.config().sqlCacheSize() * 4) {
                rewritten.clear();
            }
            rewritten.put(key, sql);
        }
        return sql;
    }
}
