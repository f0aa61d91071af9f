package io.cohort.rm.autoconfigure;

import io.cohort.client.TcClient;
import io.cohort.rm.jdbc.ResourceManager;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.SmartLifecycle;

/**
 * Opens the RM's command streams to the TC once every singleton (and so every DataSource) is
 * wrapped, early among the lifecycle beans so the RM is reachable before the web server takes
 * requests; closes the resource manager last. The TC refuses branches on a resource no connected
 * RM announced, so start-up waits up to {@code cohort.rm.connect-timeout} for the TC's welcome.
 */
final class RmStreamLifecycle implements SmartLifecycle {

    private static final Logger log = LoggerFactory.getLogger(RmStreamLifecycle.class);

    private final ResourceManager manager;
    private final TcClient tcClient;
    private final int threads;
    private final Duration connectTimeout;
    private volatile boolean running;

    RmStreamLifecycle(ResourceManager manager, TcClient tcClient, int threads, Duration connectTimeout) {
        if (threads < 1) {
            throw new IllegalArgumentException("Invalid cohort.rm.phase2-threads: " + threads + " (at least 1)");
        }
        if (connectTimeout == null || connectTimeout.isNegative()) {
            throw new IllegalArgumentException("Invalid cohort.rm.connect-timeout: " + connectTimeout);
        }
        this.manager = manager;
        this.tcClient = tcClient;
        this.threads = threads;
        this.connectTimeout = connectTimeout;
    }

    @Override
    public void start() {
        running = true;
        if (manager.resourceIds().isEmpty()) {
            log.info("Cohort RM: no DataSource to manage; not connecting to the TC");
            return;
        }
        manager.connect(tcClient.config(), threads);
        if (!manager.awaitConnected(connectTimeout)) {
            log.warn("Cohort RM: the TC at {} did not answer within {} (cohort.rm.connect-timeout); global "
                    + "transactions on {} will fail until it does — the RM keeps trying", tcClient.config().address(),
                    connectTimeout, manager.resourceIds());
        }
    }

    @Override
    public void stop() {
        running = false;
        manager.close();
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    /** Early start, late stop: before the web server opens, after it closes. */
    @Override
    public int getPhase() {
        return Integer.MIN_VALUE + 1000;
    }
}
