package io.cohort.tc.store.postgres;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Who this TC replica is and how long its hold on a transaction lasts. A replica owns the
 * transactions it began, decided or took over, for {@code leaseTime} past its last renewal; the
 * times are the database's ({@code now()}), so replicas' clocks may disagree freely.
 *
 * @param replicaId     this process's name in {@code cohort_global_tx.owner}; must differ between
 *                      live processes (a restarted process may reuse its old id: it then owns its
 *                      old transactions again at once)
 * @param leaseTime     how long a lease lasts without renewal: a dead replica's transactions are
 *                      taken over this long after its last renewal
 * @param renewInterval how often a live replica renews all its leases (one statement)
 */
public record Leases(String replicaId, Duration leaseTime, Duration renewInterval) {

    public static final Duration DEFAULT_LEASE_TIME = Duration.ofSeconds(10);
    public static final Duration DEFAULT_RENEW_INTERVAL = Duration.ofSeconds(2);
    /** Longest replica id, so it stays readable in logs and listings. */
    static final int MAX_ID_LENGTH = 200;

    public Leases {
        if (replicaId == null || replicaId.isBlank() || replicaId.length() > MAX_ID_LENGTH) {
            throw new IllegalArgumentException("cohort.tc.store.postgres.replica-id must be 1.." + MAX_ID_LENGTH
                    + " characters and not blank, was '" + replicaId + "'; leave it unset for hostname-pid-random");
        }
        if (renewInterval == null || renewInterval.toMillis() < 1) {
            throw new IllegalArgumentException("cohort.tc.store.postgres.renew-interval must be at least 1ms, was "
                    + renewInterval);
        }
        if (leaseTime == null || leaseTime.compareTo(renewInterval.multipliedBy(2)) < 0) {
            throw new IllegalArgumentException("cohort.tc.store.postgres.lease-time (" + leaseTime
                    + ") must be at least twice cohort.tc.store.postgres.renew-interval (" + renewInterval
                    + "), so one late renewal does not hand a live replica's transactions to another");
        }
    }

    /** Default times with a generated id. */
    public static Leases defaults() {
        return new Leases(generatedId(), DEFAULT_LEASE_TIME, DEFAULT_RENEW_INTERVAL);
    }

    /**
     * hostname-pid-random: the host and pid tell a person which process it is; the random part keeps
     * two processes apart that share both (containers with the same hostname, pid 1 in each pod).
     */
    public static String generatedId() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            host = "unknown-host";
        }
        byte[] random = new byte[4];
        ThreadLocalRandom.current().nextBytes(random);
        return host + "-" + ProcessHandle.current().pid() + "-" + HexFormat.of().formatHex(random);
    }
}
