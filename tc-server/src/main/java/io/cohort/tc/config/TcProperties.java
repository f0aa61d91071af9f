package io.cohort.tc.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * Every TC setting, under {@code cohort.tc}. Validated at start: a bad value stops the TC with a
 * message naming the property.
 *
 * @param grpcPort          port of the gRPC API for TMs and RMs (0 picks a free one)
 * @param advertisedAddress host:port written into XIDs and told to RMs; default the local address
 *                          and the gRPC port
 * @param defaultTimeout    timeout of a global transaction whose TM asks for none
 * @param maxTimeout        the longest timeout a TM may ask for
 * @param defaultProtocol   TWO_PHASE or THREE_PHASE, for a TM that asks for neither
 * @param maxRequestBytes   largest accepted gRPC message
 * @param maxLockKeys       most row locks one branch may take
 * @param store             where transactions are kept
 * @param recovery          timeout checks and phase-2 retries
 * @param threePhase        settings of three-phase commit
 * @param connections       limits of the gRPC port's connections
 * @param auth              bearer tokens: the client token on gRPC and for REST reads, the admin token for REST
 *                          changes; per-service identities and the resources each may serve
 * @param tls               TLS (and mutual TLS) on the gRPC port
 * @param clockOffset       for tests only: shifts this process's clock. On the embedded store the TC decides by
 *                          it (begin times, timeouts, backoffs); on the PostgreSQL store leases and timeouts
 *                          follow the database's clock, so a skewed replica changes nothing there
 * @param limits            caps that bound the TC's memory whatever the traffic
 * @param lockWait          branch registrations waiting at the TC for row locks other transactions hold
 */
@ConfigurationProperties("cohort.tc")
public record TcProperties(
        @DefaultValue("8091") int grpcPort,
        @DefaultValue("") String advertisedAddress,
        @DefaultValue("60s") Duration defaultTimeout,
        @DefaultValue("1h") Duration maxTimeout,
        @DefaultValue("TWO_PHASE") String defaultProtocol,
        @DefaultValue("1048576") int maxRequestBytes,
        @DefaultValue("10000") int maxLockKeys,
        @DefaultValue Store store,
        @DefaultValue Recovery recovery,
        @DefaultValue ThreePhase threePhase,
        @DefaultValue Auth auth,
        @DefaultValue Connections connections,
        @DefaultValue Tls tls,
        @DefaultValue Limits limits,
        @DefaultValue("0s") Duration clockOffset,
        @DefaultValue LockWait lockWait) {

    public TcProperties {
        if (grpcPort < 0 || grpcPort > 65535) {
            throw new IllegalArgumentException("cohort.tc.grpc-port must be 0..65535, was " + grpcPort);
        }
        requirePositive("cohort.tc.default-timeout", defaultTimeout);
        if (maxTimeout.compareTo(defaultTimeout) < 0) {
            throw new IllegalArgumentException("cohort.tc.max-timeout (" + maxTimeout
                    + ") must be at least cohort.tc.default-timeout (" + defaultTimeout + ")");
        }
        if (!defaultProtocol.equals("TWO_PHASE") && !defaultProtocol.equals("THREE_PHASE")) {
            throw new IllegalArgumentException("cohort.tc.default-protocol must be TWO_PHASE or THREE_PHASE, was "
                    + defaultProtocol);
        }
        requireAtLeast("cohort.tc.max-request-bytes", maxRequestBytes, 1024);
        requireAtLeast("cohort.tc.max-lock-keys", maxLockKeys, 1);
        auth.clients().forEach((name, client) -> {
            if (client.token().isEmpty() && (!tls.enabled() || tls.clientAuth().equals("none"))) {
                throw new IllegalArgumentException("cohort.tc.auth.clients." + name + " has no token, and without "
                        + "mutual TLS its certificate cannot name it either: set cohort.tc.auth.clients." + name
                        + ".token, or cohort.tc.tls.client-auth=optional or require");
            }
        });
    }

    /**
     * @param type     {@code embedded} (local files, one node) or {@code postgres} (shared, several replicas)
     * @param embedded settings of the embedded store
     * @param postgres settings of the PostgreSQL store
     */
    public record Store(@DefaultValue("embedded") String type, @DefaultValue Embedded embedded,
                        @DefaultValue Postgres postgres) {
        public Store {
            if (!type.equals("embedded") && !type.equals("postgres")) {
                throw new IllegalArgumentException("cohort.tc.store.type must be 'embedded' or 'postgres', was '"
                        + type + "'");
            }
        }
    }

    /**
     * @param dir                 data directory (created if missing)
     * @param compactionThreshold log size that triggers a snapshot and a new log segment
     * @param fsync               force every batch to disk; turn off only for throwaway tests
     * @param groupCommitDelay    how long the log writer waits for more records before an fsync;
     *                            0 batches only what arrives while the previous fsync runs
     * @param livenessDownAfter   how long the store may stay failed (a full or broken disk; it retries
     *                            every second) before the liveness probe goes DOWN so the TC is restarted
     */
    public record Embedded(@DefaultValue("./cohort-data") Path dir,
                           @DefaultValue("67108864") long compactionThreshold,
                           @DefaultValue("true") boolean fsync,
                           @DefaultValue("0ms") Duration groupCommitDelay,
                           @DefaultValue("5m") Duration livenessDownAfter) {
        public Embedded {
            if (livenessDownAfter.isNegative() || livenessDownAfter.isZero()) {
                throw new IllegalArgumentException("cohort.tc.store.embedded.liveness-down-after must be positive (e.g."
                        + " 5m), was " + livenessDownAfter);
            }
        }
    }

    /**
     * @param url         JDBC URL of the PostgreSQL database holding the TC tables
     * @param username    database user
     * @param password    database password (pass it through the environment, never a file in git)
     * @param maxPoolSize connections in the TC's pool
     * @param initSchema  create the tables from sql/tc/postgresql.sql at start if missing
     * @param replicaId   this replica's name as owner of its transactions; empty for hostname-pid-random.
     *                    Must differ between live replicas
     * @param leaseTime   how long a replica's hold on its transactions lasts without renewal: a dead
     *                    replica's transactions are taken over this long after its last renewal
     * @param renewInterval how often a replica renews all its leases (at most half the lease time)
     */
    public record Postgres(@DefaultValue("") String url, @DefaultValue("") String username,
                           @DefaultValue("") String password, @DefaultValue("16") int maxPoolSize,
                           @DefaultValue("true") boolean initSchema, @DefaultValue("") String replicaId,
                           @DefaultValue("10s") Duration leaseTime, @DefaultValue("2s") Duration renewInterval) {
    }

    /**
     * @param interval       how often the recovery loop looks for timed-out and unfinished transactions
     * @param initialBackoff first wait before a failed phase-2 step is retried (doubles each time)
     * @param maxBackoff     longest wait between retries
     * @param maxAttempts    retries of one transaction's phase 2 before it waits for a person
     * @param commandTimeout how long the TC waits for an RM's answer to a branch command
     * @param retention      how long ended transactions stay queryable with their outcome
     * @param commitBatchDelay how long a two-phase commit's branch command may wait to share its RM
     *                       stream message with the next ones (0s: sent at once)
     */
    public record Recovery(@DefaultValue("1s") Duration interval,
                           @DefaultValue("500ms") Duration initialBackoff,
                           @DefaultValue("60s") Duration maxBackoff,
                           @DefaultValue("100") int maxAttempts,
                           @DefaultValue("30s") Duration commandTimeout,
                           @DefaultValue("24h") Duration retention,
                           @DefaultValue("5ms") Duration commitBatchDelay) {
        public Recovery {
            requireAtLeast("cohort.tc.recovery.max-attempts", maxAttempts, 1);
            if (commitBatchDelay.isNegative() || commitBatchDelay.compareTo(commandTimeout) >= 0) {
                throw new IllegalArgumentException("cohort.tc.recovery.commit-batch-delay must be 0s or more and less "
                        + "than cohort.tc.recovery.command-timeout (" + commandTimeout + "), was " + commitBatchDelay);
            }
        }
    }

    /**
     * @param voteTimeout how long the TC waits for a branch's CanCommit vote; a missing vote is a no
     */
    public record ThreePhase(@DefaultValue("5s") Duration voteTimeout) {
        public ThreePhase {
            requirePositive("cohort.tc.three-phase.vote-timeout", voteTimeout);
        }
    }

    /**
     * Limits of the gRPC port, so that connections that never finish a handshake, never call, or
     * abuse HTTP/2 cannot exhaust the TC.
     *
     * @param max                   most open TCP connections; one more is closed at accept, and readiness
     *                              is DOWN while the port is full
     * @param handshakeTimeout      a connection that has not finished its HTTP/2 (or TLS) handshake by then is closed
     * @param idleTimeout           a connection without calls for this long is closed (clients reconnect)
     * @param keepAliveTime         the TC pings a quiet connection after this long ...
     * @param keepAliveTimeout      ... and closes it when the ping is not answered within this
     * @param maxCallsPerConnection concurrent calls on one connection
     * @param maxResetsPerSecond    stream resets (RST_STREAM) a client may send per second before it gets a GOAWAY
     * @param maxQueuedBytesPerStream bytes of branch commands the TC holds for one RM stream that does not take
     *                              them (gRPC flow control); further commands for it fail and are retried later
     */
    public record Connections(@DefaultValue("10000") int max,
                              @DefaultValue("10s") Duration handshakeTimeout,
                              @DefaultValue("5m") Duration idleTimeout,
                              @DefaultValue("60s") Duration keepAliveTime,
                              @DefaultValue("20s") Duration keepAliveTimeout,
                              @DefaultValue("1000") int maxCallsPerConnection,
                              @DefaultValue("200") int maxResetsPerSecond,
                              @DefaultValue("8388608") long maxQueuedBytesPerStream) {
        public Connections {
            requireAtLeast("cohort.tc.connections.max", max, 1);
            requirePositive("cohort.tc.connections.handshake-timeout", handshakeTimeout);
            requirePositive("cohort.tc.connections.idle-timeout", idleTimeout);
            requirePositive("cohort.tc.connections.keep-alive-time", keepAliveTime);
            requirePositive("cohort.tc.connections.keep-alive-timeout", keepAliveTimeout);
            requireAtLeast("cohort.tc.connections.max-calls-per-connection", maxCallsPerConnection, 1);
            requireAtLeast("cohort.tc.connections.max-resets-per-second", maxResetsPerSecond, 1);
            requireAtLeast("cohort.tc.connections.max-queued-bytes-per-stream", maxQueuedBytesPerStream, 1024);
        }
    }

    /**
     * Every unfinished transaction, and every finished one still kept, takes memory (about 400 bytes
     * plus its branches and locks); these caps keep that bounded by configuration, not by traffic.
     * The defaults hold roughly 100 MB of transactions at most, within the Helm chart's 512 MiB.
     *
     * @param maxActiveTransactions    unfinished transactions (active, in phase 2, or waiting for a person);
     *                                 a begin past it is refused with RESOURCE_EXHAUSTED / TOO_MANY_TRANSACTIONS
     * @param maxActivePerApplication  the same cap for one application id (the TM's application_id), so that
     *                                 one application cannot take all of them
     * @param endedKept                embedded store: finished transactions kept in memory and readable, the most
     *                                 recently finished; older ones are dropped before the retention passes
     *                                 (the PostgreSQL store keeps them in its table for the retention)
     */
    public record Limits(@DefaultValue("100000") int maxActiveTransactions,
                         @DefaultValue("50000") int maxActivePerApplication,
                         @DefaultValue("100000") int endedKept) {
        public Limits {
            requireAtLeast("cohort.tc.limits.max-active-transactions", maxActiveTransactions, 1);
            requireAtLeast("cohort.tc.limits.max-active-per-application", maxActivePerApplication, 1);
            requireAtLeast("cohort.tc.limits.ended-kept", endedKept, 0);
        }
    }

    /**
     * A registration that finds its rows held waits at the TC, in line per row, for as long as its RM
     * asks ({@code lock_wait_ms}; the RM asks for what is left of its lock-retry budget) and is woken
     * when the holder's locks are released, instead of the RM polling with a backoff.
     *
     * @param maxWaiters      registrations waiting at once; past it a conflict is answered at once and the
     *                        RM backs off on its own. 0 turns waiting at the TC off
     * @param maxWait         the longest one registration is held, whatever its RM asks
     * @param recheckInterval how often the first waiter of a row looks again without being woken: locks
     *                        released by another replica (PostgreSQL store) are seen this late at most
     */
    public record LockWait(@DefaultValue("10000") int maxWaiters, @DefaultValue("30s") Duration maxWait,
                           @DefaultValue("100ms") Duration recheckInterval) {
        public LockWait {
            if (maxWaiters < 0) {
                throw new IllegalArgumentException("cohort.tc.lock-wait.max-waiters must be 0 or more, was " + maxWaiters);
            }
            if (maxWait.isNegative()) {
                throw new IllegalArgumentException("cohort.tc.lock-wait.max-wait must be 0s or more, was " + maxWait);
            }
            if (recheckInterval.toMillis() < 1) {
                throw new IllegalArgumentException("cohort.tc.lock-wait.recheck-interval must be at least 1ms, was "
                        + recheckInterval);
            }
        }
    }

    /**
     * With no token and no client set, authentication is off.
     *
     * @param token      the shared client token: a gRPC call (TM or RM) carrying {@code Authorization: Bearer <token>}
     *                   is accepted and may serve any resource; it also lets a caller read the REST API and the actuator
     * @param adminToken the admin token: needed for REST requests that change something (retry, rollback);
     *                   without it the REST API is read-only. Must differ from {@code token}
     * @param clients    per-service identities by name: a call is that service when it carries the service's
     *                   token, or (mutual TLS) a client certificate whose CN or a DNS name is the service's name;
     *                   it may then announce and register branches only for the service's resources
     */
    public record Auth(@DefaultValue("") String token, @DefaultValue("") String adminToken, Map<String, Client> clients) {
        public Auth {
            clients = clients == null ? Map.of() : Map.copyOf(clients);
            if (!adminToken.isEmpty() && token.isEmpty() && clients.isEmpty()) {
                throw new IllegalArgumentException("cohort.tc.auth.admin-token is set but cohort.tc.auth.token is not: "
                        + "the gRPC port would be open to anyone. Set cohort.tc.auth.token (or cohort.tc.auth.clients) too");
            }
            if (!adminToken.isEmpty() && adminToken.equals(token)) {
                throw new IllegalArgumentException("cohort.tc.auth.admin-token must differ from cohort.tc.auth.token: "
                        + "every TM and RM holds the client token, and it must not be enough to change transactions");
            }
            Map<String, String> holders = new HashMap<>();
            holders.put(token, "cohort.tc.auth.token");
            holders.put(adminToken, "cohort.tc.auth.admin-token");
            for (var client : new TreeMap<>(clients).entrySet()) {
                String setting = "cohort.tc.auth.clients." + client.getKey() + ".token";
                String clash = client.getValue().token().isEmpty() ? null : holders.putIfAbsent(client.getValue().token(), setting);
                if (clash != null) {
                    throw new IllegalArgumentException(setting + " equals " + clash + ": each service needs a token of "
                            + "its own, or the TC cannot tell which one is calling");
                }
            }
        }

        /** Whether gRPC calls must prove who they are. */
        public boolean required() {
            return !token.isEmpty() || !clients.isEmpty();
        }
    }

    /**
     * One service's identity.
     *
     * @param token     its bearer token; empty when it is known by its client certificate only (mutual TLS)
     * @param resources the resource ids it may serve as an RM: exact ids, or patterns where {@code *} stands
     *                  for any characters ({@code jdbc:postgresql://db1/*}); empty for a TM-only service
     */
    public record Client(@DefaultValue("") String token, List<String> resources) {
        public Client {
            resources = resources == null ? List.of() : List.copyOf(resources);
        }
    }

    /**
     * TLS on the gRPC port. The PEM files are checked every {@code refreshInterval} and a changed
     * certificate serves new connections without a restart.
     *
     * @param enabled         serve TLS only (a plaintext client is refused)
     * @param certificate     PEM certificate chain of the TC, leaf first; it must name the host clients dial
     * @param privateKey      its unencrypted PKCS#8 PEM key
     * @param clientCa        PEM CA certificates that client certificates must lead to (mutual TLS)
     * @param clientAuth      {@code none}, {@code optional} (a client certificate, when sent, must be valid and names
     *                        the caller) or {@code require} (no connection without a valid client certificate)
     * @param refreshInterval how often the files are checked for changes
     */
    public record Tls(@DefaultValue("false") boolean enabled, Path certificate, Path privateKey, Path clientCa,
                      @DefaultValue("none") String clientAuth, @DefaultValue("1m") Duration refreshInterval) {
        public Tls {
            if (!List.of("none", "optional", "require").contains(clientAuth)) {
                throw new IllegalArgumentException("cohort.tc.tls.client-auth must be none, optional or require, was '"
                        + clientAuth + "'");
            }
            requirePositive("cohort.tc.tls.refresh-interval", refreshInterval);
            if (!enabled && (certificate != null || clientCa != null || !clientAuth.equals("none"))) {
                throw new IllegalArgumentException("cohort.tc.tls.* is configured but cohort.tc.tls.enabled is false: the "
                        + "gRPC port would stay plaintext. Set cohort.tc.tls.enabled=true, or remove the TLS settings");
            }
            if (enabled && (certificate == null || privateKey == null)) {
                throw new IllegalArgumentException("cohort.tc.tls.enabled=true needs cohort.tc.tls.certificate and "
                        + "cohort.tc.tls.private-key (PEM files)");
            }
            if (enabled && !clientAuth.equals("none") && clientCa == null) {
                throw new IllegalArgumentException("cohort.tc.tls.client-auth=" + clientAuth + " needs cohort.tc.tls.client-ca: "
                        + "the PEM CA certificates that client certificates must lead to");
            }
        }
    }

    /** Fails start naming the setting, its value and the least it may be. */
    static void requireAtLeast(String name, long value, long min) {
        if (value < min) {
            throw new IllegalArgumentException(name + " must be at least " + min + ", was " + value);
        }
    }

    /** Fails start naming the setting when {@code value} is zero or negative. */
    static void requirePositive(String name, Duration value) {
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(name + " must be positive, was " + value);
        }
    }
}
