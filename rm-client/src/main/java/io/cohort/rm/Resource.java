package io.cohort.rm;

import io.cohort.client.RmConnection;
import io.cohort.rm.dialect.Dialect;
import io.cohort.rm.image.TableMetaCache;
import io.cohort.rm.sql.SqlPlanCache;
import io.cohort.rm.undo.RedoExecutor;
import io.cohort.rm.undo.UndoCodec;
import io.cohort.rm.undo.UndoExecutor;
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
    private final Dialect dialect;
    private final TableMetaCache tableMetas;
    private final SqlPlanCache plans;
    private final UndoCodec undoCodec;
    private final UndoExecutor undoExecutor;
    private final RedoExecutor redoExecutor;
    private final ConcurrentHashMap<String, String> rewritten = new ConcurrentHashMap<>();

    Resource(ResourceManager manager, String resourceId, DataSource target, Dialect dialect) {
        this.manager = manager;
        this.resourceId = resourceId;
        this.target = target;
        this.dialect = dialect;
        RmConfig config = manager.config();
        this.tableMetas = new TableMetaCache(dialect);
        this.plans = new SqlPlanCache(config.sqlCacheSize());
        this.undoCodec = new UndoCodec(config.compressThreshold(), config.maxInflatedBytes());
        this.undoExecutor = new UndoExecutor(dialect, undoCodec, config.undoTable());
        this.redoExecutor = new RedoExecutor(dialect, undoCodec, config.undoTable());
    }

    public String resourceId() {
        return resourceId;
    }

    /** The application's own data source, unwrapped. */
    public DataSource target() {
        return target;
    }

    public Dialect dialect() {
        return dialect;
    }

    public TableMetaCache tableMetas() {
        return tableMetas;
    }

    public SqlPlanCache plans() {
        return plans;
    }

    public UndoCodec undoCodec() {
        return undoCodec;
    }

    public UndoExecutor undoExecutor() {
        return undoExecutor;
    }

    public RedoExecutor redoExecutor() {
        return redoExecutor;
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
