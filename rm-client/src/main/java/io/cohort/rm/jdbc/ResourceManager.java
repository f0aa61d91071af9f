package io.cohort.rm.jdbc;

import io.cohort.client.RmConnection;
import io.cohort.client.TcClientConfig;
import io.cohort.rm.BranchCoordinator;
import io.cohort.rm.RmConfig;
import io.micrometer.observation.ObservationRegistry;
import java.net.InetAddress;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The RM of one process, framework-free: wraps data sources ({@link #wrap}), answers the TC's
 * phase-2 commands ({@link #handler()}), and holds what all resources share (configuration, the
 * TC client, the client id). Typical use without Spring:
 * <pre>{@code
 * TcClient tc = new TcClient(TcClientConfig.of("localhost:8091", "bank-a"));
 * ResourceManager rm = ResourceManager.builder(BranchCoordinator.of(tc)).build();
 * DataSource ds = rm.wrap(hikari);
 * rm.connect(tc.config(), 4);   // opens the phase-2 command streams (4 worker threads)
 * }</pre>
 */
public final class ResourceManager implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ResourceManager.class);

    private final RmConfig config;
    private final BranchCoordinator coordinator;
    private final String clientId;
    private final Clock clock;
    private final ObservationRegistry observations;
    private final Map<String, Resource> resources = new ConcurrentHashMap<>();
    private final BranchRuntime branches;
    private volatile RmConnection connection;
    private TcClientConfig connectedWith;
    private int connectedWorkers;

    private ResourceManager(Builder b) {
        this.config = b.config;
        this.coordinator = b.coordinator;
        this.clientId = b.clientId != null ? b.clientId : defaultClientId();
        this.clock = b.clock;
        this.observations = b.observations;
        this.branches = new BranchRuntime(this::resource, () -> List.copyOf(resources.values()), coordinator, config,
                clock, observations);
    }

    public static Builder builder(BranchCoordinator coordinator) {
        return new Builder(coordinator);
    }

    /** Wraps {@code target}; its resource id is derived from its JDBC URL. */
    public DataSourceProxy wrap(DataSource target) {
        return wrap(target, null);
    }

    /** Wraps {@code target} as resource {@code resourceId} (null: derived from the JDBC URL). */
    public DataSourceProxy wrap(DataSource target, String resourceId) {
        if (target instanceof DataSourceProxy proxy) {
            return proxy;
        }
        String id = resourceId != null && !resourceId.isBlank() ? resourceId : resourceIdOf(target);
        Resource resource = new Resource(id, target, config, coordinator, clientId, clock, observations, () -> connection);
        Resource previous = resources.putIfAbsent(id, resource);
        if (previous != null) {
            throw new IllegalStateException("Two data sources have resource id " + id
                    + "; set cohort.rm.resource-id to tell them apart");
        }
        if (!resource.detectDialect()) {
            log.warn("Cannot reach the database of resource {} to tell which it is; it will be told at first use", id);
        }
        branches.add(resource); // before any command can arrive for it
        reconnectIfConnected();
        return new DataSourceProxy(target, resource);
    }

    /**
     * Opens the command streams to every TC replica, announcing the wrapped resources. The TC
     * refuses branches on a resource no connected RM announced, so call it after wrapping; a data
     * source wrapped later re-opens the streams with the longer list.
     */
    public synchronized RmConnection connect(TcClientConfig tcConfig, int workerThreads) {
        if (connection == null) {
            connectedWith = tcConfig;
            connectedWorkers = workerThreads;
            connection = new RmConnection(tcConfig, clientId, new ArrayList<>(resources.keySet()), branches.handler(),
                    workerThreads);
        }
        return connection;
    }

    private synchronized void reconnectIfConnected() {
        RmConnection old = connection;
        if (old != null) {
            connection = new RmConnection(connectedWith, clientId, new ArrayList<>(resources.keySet()),
                    branches.handler(), connectedWorkers);
            old.close();
        }
    }

    /**
     * Waits until at least one TC replica has welcomed this RM's command stream; false if none did
     * within {@code timeout} (the streams keep trying in the background).
     */
    public boolean awaitConnected(java.time.Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            RmConnection c = connection;
            if (c != null && c.connectedReplicas() > 0) {
                return true;
            }
            if (System.nanoTime() >= deadline) {
                return false;
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    /** The command streams, or null before {@link #connect}. */
    public RmConnection connection() {
        return connection;
    }

    BranchPhase2Handler handler() {
        return branches.handler();
    }

    Resource resource(String resourceId) {
        return resources.get(resourceId);
    }

    public List<String> resourceIds() {
        return List.copyOf(resources.keySet());
    }

    public RmConfig config() {
        return config;
    }

    public String clientId() {
        return clientId;
    }

    /** 3PC: looks for branches past their termination timeout now, instead of at the next check. */
    public void checkTermination() {
        branches.checkTermination();
    }

    /** Deletes queued undo logs now (tests, shutdown). */
    public void flushUndoDeletes() {
        branches.flushUndoDeletes();
    }

    /** Checks each resource's two-phase undo logs against the TC now, whatever their age (tests). */
    Map<String, AsyncUndoDeleter.LeftoverCheck> checkLeftoverUndoLogs() {
        return branches.checkLeftoverUndoLogs();
    }

    @Override
    public void close() {
        RmConnection c = connection;
        if (c != null) {
            c.close();
        }
        branches.close();
    }

    /** {@code jdbc:postgresql://host:port/db}, lower-cased, without parameters. */
    static String resourceIdOf(DataSource target) {
        try (Connection c = target.getConnection()) {
            return normalise(c.getMetaData().getURL());
        } catch (SQLException e) {
            throw new IllegalStateException("Cannot derive the RM resource id from the database URL (" + e.getMessage()
                    + "); set cohort.rm.resource-id", e);
        }
    }

    static String normalise(String jdbcUrl) {
        String url = jdbcUrl;
        int q = url.indexOf('?');
        if (q >= 0) {
            url = url.substring(0, q);
        }
        int hostStart = url.indexOf("//");
        int slash = hostStart < 0 ? -1 : url.indexOf('/', hostStart + 2);
        return slash < 0 ? url.toLowerCase(Locale.ROOT)
                : url.substring(0, slash).toLowerCase(Locale.ROOT) + url.substring(slash);
    }

    private static String defaultClientId() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (Exception e) {
            host = "unknown-host";
        }
        return host + ":" + ProcessHandle.current().pid() + ":" + UUID.randomUUID().toString().substring(0, 8);
    }

    /** Builds a {@link ResourceManager}. */
    public static final class Builder {
        private final BranchCoordinator coordinator;
        private RmConfig config = RmConfig.defaults();
        private String clientId;
        private Clock clock = Clock.systemUTC();
        private ObservationRegistry observations = ObservationRegistry.NOOP;

        private Builder(BranchCoordinator coordinator) {
            this.coordinator = java.util.Objects.requireNonNull(coordinator, "coordinator");
        }

        public Builder config(RmConfig config) {
            this.config = config;
            return this;
        }

        /** Unique per process; the TC sends a branch's phase-2 commands to the client that registered it. */
        public Builder clientId(String clientId) {
            this.clientId = clientId;
            return this;
        }

        public Builder clock(Clock clock) {
            this.clock = clock;
            return this;
        }

        /**
         * Observes branches here (Boot's registry: a span for each branch's local commit and each
         * phase-2 command, joined to the TC's trace). Default NOOP: nothing is observed, nothing costs.
         */
        public Builder observations(ObservationRegistry observations) {
            this.observations = java.util.Objects.requireNonNull(observations, "observations");
            return this;
        }

        public ResourceManager build() {
            return new ResourceManager(this);
        }
    }
}
