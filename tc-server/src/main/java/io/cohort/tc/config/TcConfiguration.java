package io.cohort.tc.config;

import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.coordinator.Coordinator;
import io.cohort.tc.coordinator.IdGenerator;
import io.cohort.tc.coordinator.LockWaits;
import io.cohort.tc.coordinator.Phase2Driver;
import io.cohort.tc.coordinator.RecoveryLoop;
import io.cohort.tc.coordinator.TcMetrics;
import io.cohort.tc.rpc.BranchDispatcher;
import io.cohort.tc.rpc.CoordinatorGrpcService;
import io.cohort.tc.rpc.GrpcServer;
import io.cohort.tc.store.TransactionStore;
import io.cohort.tc.store.embedded.EmbeddedStoreConfig;
import io.cohort.tc.store.embedded.EmbeddedTransactionStore;
import io.cohort.tc.store.postgres.Leases;
import io.cohort.tc.store.postgres.PostgresStoreConfig;
import io.cohort.tc.store.postgres.PostgresTransactionStore;
import io.cohort.tc.support.TcObservations;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.ObservationRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Wires the TC from {@link TcProperties}: store, coordinator, driver, recovery loop, gRPC server. */
@Configuration(proxyBeanMethods = false)
public class TcConfiguration {

    /** The resolved gRPC port and advertised address (a port of 0 is replaced by a free one). */
    public record Endpoint(int grpcPort, String advertisedAddress) {
    }

    /** This process's clock (shifted by {@code cohort.tc.clock-offset} in tests). */
    private static Clock localClock(TcProperties properties) {
        return properties.clockOffset().isZero() ? Clock.systemUTC()
                : Clock.offset(Clock.systemUTC(), properties.clockOffset());
    }

    /**
     * The clock the TC decides by: the one its store's replicas share (the PostgreSQL store's:
     * the database's), else this process's.
     */
    @Bean
    Clock clock(TransactionStore store, TcProperties properties) {
        return store.sharedClock().orElseGet(() -> localClock(properties));
    }

    @Bean
    Endpoint endpoint(TcProperties properties) throws IOException {
        int port = properties.grpcPort();
        if (port == 0) {
            try (ServerSocket probe = new ServerSocket(0)) {
                port = probe.getLocalPort();
            }
        }
        String address = properties.advertisedAddress().isBlank()
                ? InetAddress.getLocalHost().getHostAddress() + ":" + port
                : properties.advertisedAddress();
        return new Endpoint(port, address);
    }

    @Bean(destroyMethod = "close")
    TransactionStore transactionStore(TcProperties properties, MeterRegistry registry) {
        Clock clock = localClock(properties);
        TcProperties.Store store = properties.store();
        if (store.type().equals("postgres")) {
            TcProperties.Postgres pg = store.postgres();
            if (pg.url().isBlank()) {
                throw new IllegalArgumentException("cohort.tc.store.type=postgres needs cohort.tc.store.postgres.url "
                        + "(e.g. jdbc:postgresql://db:5432/cohort)");
            }
            Leases leases = new Leases(pg.replicaId().isEmpty() ? Leases.generatedId() : pg.replicaId(),
                    pg.leaseTime(), pg.renewInterval());
            return PostgresTransactionStore.create(new PostgresStoreConfig(pg.url(), pg.username(), pg.password(),
                    pg.maxPoolSize()), leases, clock, registry, pg.initSchema());
        }
        TcProperties.Embedded embedded = store.embedded();
        return new EmbeddedTransactionStore(new EmbeddedStoreConfig(embedded.dir(), embedded.compactionThreshold(),
                embedded.fsync(), embedded.groupCommitDelay(), EmbeddedStoreConfig.DEFAULT_MAX_BATCH_RECORDS,
                properties.limits().endedKept()), clock, registry);
    }

    @Bean(destroyMethod = "shutdownNow")
    ScheduledExecutorService tcScheduler() {
        ScheduledThreadPoolExecutor scheduler = new ScheduledThreadPoolExecutor(1, r -> daemon(r, "cohort-tc-scheduler"));
        scheduler.setRemoveOnCancelPolicy(true); // a vote timeout is cancelled by its answer: do not keep it queued
        return scheduler;
    }

    @Bean(destroyMethod = "shutdownNow")
    ExecutorService tcSendExecutor() {
        return Executors.newFixedThreadPool(2, r -> daemon(r, "cohort-tc-send"));
    }

    /**
     * The call pool of the PostgreSQL store: a work-stealing pool in FIFO mode. Its idle workers look
     * for work before they park, so a busy pool takes each call without waking a thread, where a
     * fixed pool's queue woke one per call (TC alone, C=64: 8.5–8.8 context switches per transaction
     * before, 6.2–6.7 after; bench/MEASUREMENTS.md, "The TC alone"). A call that blocks on JDBC holds its worker, as
     * in a fixed pool of the same size.
     */
    private static ForkJoinPool callPool(int threads) {
        return new ForkJoinPool(threads, pool -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            t.setName("cohort-tc-call-" + t.getPoolIndex());
            return t;
        }, null, true);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    @Bean
    BranchDispatcher branchDispatcher(ExecutorService tcSendExecutor, ScheduledExecutorService tcScheduler,
                                      TcProperties properties) {
        return new BranchDispatcher(tcSendExecutor, tcScheduler, properties.recovery().commandTimeout(),
                properties.connections().maxQueuedBytesPerStream(), properties.recovery().commitBatchDelay());
    }

    @Bean
    TcMetrics tcMetrics(MeterRegistry registry, TransactionStore store, BranchDispatcher dispatcher) {
        return new TcMetrics(registry, store, dispatcher);
    }

    /**
     * The TC's spans go to Boot's registry, which the OpenTelemetry bridge turns into spans exported
     * when an OTLP endpoint is configured; without a registry nothing is observed.
     */
    @Bean
    TcObservations tcObservations(ObjectProvider<ObservationRegistry> registry) {
        return new TcObservations(registry.getIfUnique(() -> ObservationRegistry.NOOP));
    }

    @Bean
    LockWaits lockWaits(TcProperties properties, ScheduledExecutorService tcScheduler, Clock clock,
                        TransactionStore store, TcMetrics metrics) {
        TcProperties.LockWait w = properties.lockWait();
        LockWaits waits = new LockWaits(new LockWaits.Settings(w.maxWaiters(), w.maxWait(), w.recheckInterval()),
                tcScheduler, clock, System::nanoTime,
                holder -> store.findGlobal(holder).map(tx -> tx.status().isRollbackDecided()).orElse(false), metrics);
        metrics.watch(waits);
        return waits;
    }

    @Bean
    Phase2Driver phase2Driver(TransactionStore store, BranchDispatcher dispatcher, TcMetrics metrics, Clock clock,
                              TcProperties properties, TcObservations observations, LockWaits lockWaits,
                              ScheduledExecutorService tcScheduler) {
        TcProperties.Recovery r = properties.recovery();
        return new Phase2Driver(store, dispatcher, metrics, clock, r.initialBackoff(), r.maxBackoff(), r.maxAttempts(),
                properties.threePhase().voteTimeout(), observations, lockWaits, tcScheduler);
    }

    @Bean
    Coordinator coordinator(TransactionStore store, Phase2Driver driver, BranchDispatcher dispatcher, TcMetrics metrics,
                            Clock clock, TcProperties properties, Endpoint endpoint, LockWaits lockWaits) {
        return new Coordinator(store, driver, dispatcher, new IdGenerator(clock, endpoint.advertisedAddress()), metrics,
                clock, endpoint.advertisedAddress(), properties.defaultTimeout(), properties.maxTimeout(),
                TransactionProtocol.valueOf(properties.defaultProtocol()), properties.maxLockKeys(),
                new Coordinator.Limits(properties.limits().maxActiveTransactions(),
                        properties.limits().maxActivePerApplication()), lockWaits);
    }

    @Bean(destroyMethod = "close")
    RecoveryLoop recoveryLoop(TransactionStore store, Phase2Driver driver, Clock clock, TcProperties properties,
                              ScheduledExecutorService tcScheduler) {
        return new RecoveryLoop(store, driver, clock, properties.recovery().interval(), properties.recovery().retention(),
                tcScheduler);
    }

    /**
     * The embedded store answers reads from memory and writes through futures, so gRPC calls run
     * on the network threads with no hand-off; the PostgreSQL store may read over JDBC, so its calls
     * run on a pool sized to its connections, except a Calls-stream call that reads nothing, which
     * runs on the network thread that read its frame (see {@code GrpcServer} and {@code CallsStream}).
     */
    @Bean
    GrpcServer grpcServer(Coordinator coordinator, BranchDispatcher dispatcher, TcProperties properties, Endpoint endpoint,
                          Clock clock, TcObservations observations) {
        ExecutorService callExecutor = properties.store().type().equals("postgres")
                ? callPool(2 * properties.store().postgres().maxPoolSize())
                : null;
        return new GrpcServer(new CoordinatorGrpcService(coordinator, dispatcher, clock, observations), endpoint.grpcPort(),
                properties.maxRequestBytes(), properties.auth(), properties.tls(), callExecutor, properties.connections(), clock);
    }

    /**
     * Readiness is DOWN while the gRPC port cannot take one more connection: at its cap, or with
     * the process out of file descriptors. Kubernetes then sends new clients to other replicas.
     */
    @Bean
    HealthIndicator grpcConnectionsHealthIndicator(GrpcServer grpcServer) {
        return () -> {
            Health.Builder health = grpcServer.atConnectionLimit() || FileDescriptors.nearlyExhausted()
                    ? Health.down() : Health.up();
            return health.withDetail("open", grpcServer.openConnections())
                    .withDetail("refusedAtCap", grpcServer.refusedConnections())
                    .withDetail("fileDescriptors", FileDescriptors.describe()).build();
        };
    }

    /**
     * Liveness: DOWN once the embedded store has been failed (it cannot write its log) for longer
     * than {@code cohort.tc.store.embedded.liveness-down-after}; until then it retries by itself and
     * only readiness is DOWN. A restart is the last resort when the disk does not come back.
     */
    @Bean
    HealthIndicator storeLivenessHealthIndicator(TransactionStore store, TcProperties properties) {
        Duration bound = properties.store().embedded().livenessDownAfter();
        return () -> {
            Duration failed = store instanceof EmbeddedTransactionStore embedded ? embedded.failedFor() : Duration.ZERO;
            return (failed.compareTo(bound) > 0 ? Health.down() : Health.up())
                    .withDetail("storeFailedForMs", failed.toMillis()).withDetail("downAfterMs", bound.toMillis()).build();
        };
    }

    /** The store's health, shown by /actuator/health and used by the readiness probe. */
    @Bean
    HealthIndicator storeHealthIndicator(TransactionStore store, TcProperties properties) {
        return () -> {
            try {
                store.checkHealth();
                return Health.up().withDetail("type", properties.store().type()).build();
            } catch (RuntimeException e) {
                return Health.down().withDetail("type", properties.store().type())
                        .withDetail("reason", String.valueOf(e.getMessage())).build();
            }
        };
    }
}
