package io.cohort.rm.autoconfigure;

import io.cohort.rm.RmConfig;
import io.cohort.rm.UndoLogFormat;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The RM's {@code cohort.rm.*} properties; {@link #toConfig()} validates them, naming a bad one.
 * Defaults are literals (so IDE metadata shows them) equal to {@link RmConfig#defaults()}.
 */
@ConfigurationProperties("cohort.rm")
public class CohortRmProperties {

    /** Whether DataSource beans are wrapped by the AT-mode resource manager. */
    private boolean enabled = true;

    /**
     * Resource id of the wrapped DataSource, as the TC knows it; empty derives it from the JDBC URL
     * (jdbc:postgresql://host:port/db). Every process writing to one database must use the same id.
     */
    private String resourceId = "";

    /** Resource ids by DataSource bean name, for services with several data sources. */
    private Map<String, String> resourceIds = new LinkedHashMap<>();

    /** DataSource bean names left unwrapped (their writes never join a global transaction). */
    private List<String> excludedDataSources = new ArrayList<>();

    /** First wait after a global lock conflict; doubles per attempt up to 16 times this. */
    private Duration lockRetryInterval = Duration.ofMillis(20);

    /** Attempts to take global locks before the local commit fails with the holder named. */
    private int lockRetryAttempts = 30;

    /** Parsed SQL statements cached per data source. */
    private int sqlCacheSize = 2048;

    /** Threads running the TC's phase-2 commands (undo-log deletes, rollbacks). */
    private int phase2Threads = 4;

    /**
     * How long start-up waits for the TC to welcome the RM's command stream; when it does not,
     * start-up goes on with a warning and the stream keeps trying in the background.
     */
    private Duration connectTimeout = Duration.ofSeconds(10);

    /**
     * PostgreSQL: an autocommit UPDATE in a global transaction whose WHERE pins the whole integer
     * primary key by equality (as a JPA repository's or JdbcTemplate's update by id) is registered with
     * the TC first, then updates, writes its undo log and commits in one round trip instead of two.
     */
    private boolean keyPinnedAutocommitUpdates = true;

    /**
     * The form undo logs are written in: json (every RM version reads it) or binary (about a third of
     * the bytes, cheaper to write, but only RMs of this version or later read it: switch once every
     * RM writing to the database runs such a version). Both are read whatever this says.
     */
    private String undoLogFormat = "json";

    private final Undo undo = new Undo();

    private final ThreePhase threePhase = new ThreePhase();

    private final Schema schema = new Schema();

    /** The RM's own tables. */
    public static class Schema {

        /**
         * Whether start-up creates the RM's tables (sql/rm/postgresql.sql: undo_log,
         * cohort_branch_decision) in every wrapped DataSource's database, when they do not exist yet.
         * Off: apply the script yourself; start-up fails while a table is missing.
         */
        private boolean initialize = false;

        public boolean isInitialize() {
            return initialize;
        }

        public void setInitialize(boolean initialize) {
            this.initialize = initialize;
        }
    }

    /** Three-phase commit: how this RM finishes a branch when it hears nothing from the TC. */
    public static class ThreePhase {

        /**
         * How long a three-phase branch may go without word from the TC (no command, no answer)
         * before this RM asks any TC replica for the outcome; when none answers, the RM finishes the
         * branch on its own: rolls back if it never saw PreCommit, commits if it did. Two-phase
         * branches never finish on their own.
         */
        private Duration terminationTimeout = Duration.ofSeconds(30);

        /** How often the RM looks for three-phase branches past their termination timeout. */
        private Duration checkInterval = Duration.ofSeconds(1);

        /**
         * The one deadline within which the RM finds out whether any TC replica answers (each replica
         * asked once, no retries, no waiting for a connection) before it finishes its quiet branches on
         * its own; every quiet branch is decided within termination-timeout + this + check-interval.
         */
        private Duration probeTimeout = Duration.ofSeconds(2);

        /** Table recording what the RM decided on its own and why; see sql/rm/postgresql.sql. */
        private String decisionTable = "cohort_branch_decision";

        public Duration getTerminationTimeout() {
            return terminationTimeout;
        }

        public void setTerminationTimeout(Duration terminationTimeout) {
            this.terminationTimeout = terminationTimeout;
        }

        public Duration getProbeTimeout() {
            return probeTimeout;
        }

        public void setProbeTimeout(Duration probeTimeout) {
            this.probeTimeout = probeTimeout;
        }

        public Duration getCheckInterval() {
            return checkInterval;
        }

        public void setCheckInterval(Duration checkInterval) {
            this.checkInterval = checkInterval;
        }

        public String getDecisionTable() {
            return decisionTable;
        }

        public void setDecisionTable(String decisionTable) {
            this.decisionTable = decisionTable;
        }
    }

    /** The undo log. */
    public static class Undo {

        /** Name of the undo-log table (optionally schema-qualified); see sql/rm/postgresql.sql. */
        private String table = "undo_log";

        /** Undo logs larger than this many bytes are deflated. */
        private int compressThreshold = 4096;

        /** An undo log that inflates beyond this many bytes is refused (decompression bomb guard). */
        private int maxInflatedBytes = 67108864;

        /** Undo logs deleted per statement after phase-2 commit. */
        private int deleteBatchSize = 500;

        /** How often queued undo-log deletes of committed branches are flushed. */
        private Duration deleteInterval = Duration.ofMillis(200);

        /**
         * Age after which empty-rollback markers, and two-phase undo logs whose transaction no TC knows
         * any more, are deleted.
         */
        private Duration markerRetention = Duration.ofDays(1);

        /**
         * Whether a two-phase branch's undo log (up to 16 KiB; on PostgreSQL, of a branch that inserts
         * nothing) goes to the TC with its registration instead of into the undo-log table. Off: every
         * undo log is a row in the service's database, and the TC's store holds no row data.
         */
        private boolean imagesAtTc = true;

        public boolean isImagesAtTc() {
            return imagesAtTc;
        }

        public void setImagesAtTc(boolean imagesAtTc) {
            this.imagesAtTc = imagesAtTc;
        }

        public String getTable() {
            return table;
        }

        public void setTable(String table) {
            this.table = table;
        }

        public int getCompressThreshold() {
            return compressThreshold;
        }

        public void setCompressThreshold(int compressThreshold) {
            this.compressThreshold = compressThreshold;
        }

        public int getMaxInflatedBytes() {
            return maxInflatedBytes;
        }

        public void setMaxInflatedBytes(int maxInflatedBytes) {
            this.maxInflatedBytes = maxInflatedBytes;
        }

        public int getDeleteBatchSize() {
            return deleteBatchSize;
        }

        public void setDeleteBatchSize(int deleteBatchSize) {
            this.deleteBatchSize = deleteBatchSize;
        }

        public Duration getDeleteInterval() {
            return deleteInterval;
        }

        public void setDeleteInterval(Duration deleteInterval) {
            this.deleteInterval = deleteInterval;
        }

        public Duration getMarkerRetention() {
            return markerRetention;
        }

        public void setMarkerRetention(Duration markerRetention) {
            this.markerRetention = markerRetention;
        }
    }

    /** The immutable RM configuration; throws naming the property when a value is bad. */
    public RmConfig toConfig() {
        return new RmConfig(lockRetryInterval, lockRetryAttempts, undo.table, undo.compressThreshold,
                undo.maxInflatedBytes, undo.deleteBatchSize, undo.deleteInterval, undo.markerRetention, sqlCacheSize,
                threePhase.terminationTimeout, threePhase.checkInterval, threePhase.probeTimeout, threePhase.decisionTable,
                keyPinnedAutocommitUpdates, UndoLogFormat.parse(undoLogFormat), undo.imagesAtTc);
    }

    public String getUndoLogFormat() {
        return undoLogFormat;
    }

    public void setUndoLogFormat(String undoLogFormat) {
        this.undoLogFormat = undoLogFormat;
    }

    public boolean isKeyPinnedAutocommitUpdates() {
        return keyPinnedAutocommitUpdates;
    }

    public void setKeyPinnedAutocommitUpdates(boolean keyPinnedAutocommitUpdates) {
        this.keyPinnedAutocommitUpdates = keyPinnedAutocommitUpdates;
    }

    /** The resource id for the DataSource bean {@code beanName}, or null to derive it from the JDBC URL. */
    String resourceIdFor(String beanName) {
        String id = resourceIds.get(beanName);
        if (id == null || id.isBlank()) {
            id = resourceId;
        }
        return id == null || id.isBlank() ? null : id;
    }

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public String getResourceId() {
        return resourceId;
    }

    public void setResourceId(String resourceId) {
        this.resourceId = resourceId;
    }

    public Map<String, String> getResourceIds() {
        return resourceIds;
    }

    public void setResourceIds(Map<String, String> resourceIds) {
        this.resourceIds = resourceIds;
    }

    public List<String> getExcludedDataSources() {
        return excludedDataSources;
    }

    public void setExcludedDataSources(List<String> excludedDataSources) {
        this.excludedDataSources = excludedDataSources;
    }

    public Duration getLockRetryInterval() {
        return lockRetryInterval;
    }

    public void setLockRetryInterval(Duration lockRetryInterval) {
        this.lockRetryInterval = lockRetryInterval;
    }

    public int getLockRetryAttempts() {
        return lockRetryAttempts;
    }

    public void setLockRetryAttempts(int lockRetryAttempts) {
        this.lockRetryAttempts = lockRetryAttempts;
    }

    public int getSqlCacheSize() {
        return sqlCacheSize;
    }

    public void setSqlCacheSize(int sqlCacheSize) {
        this.sqlCacheSize = sqlCacheSize;
    }

    public int getPhase2Threads() {
        return phase2Threads;
    }

    public void setPhase2Threads(int phase2Threads) {
        this.phase2Threads = phase2Threads;
    }

    public Duration getConnectTimeout() {
        return connectTimeout;
    }

    public void setConnectTimeout(Duration connectTimeout) {
        this.connectTimeout = connectTimeout;
    }

    public Undo getUndo() {
        return undo;
    }

    public ThreePhase getThreePhase() {
        return threePhase;
    }

    public Schema getSchema() {
        return schema;
    }
}
