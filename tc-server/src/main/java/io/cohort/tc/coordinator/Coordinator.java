package io.cohort.tc.coordinator;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.Xid;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.TransactionStore;
import io.cohort.tc.support.LogText;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The coordinator's entry points for TMs, RMs and people (REST). Validates each request and asks
 * the {@link Phase2Driver} for the decision ({@link Phase2Driver#decide}, the one way out of BEGIN),
 * which moves the transaction through {@link GlobalStateMachine} with a compare-and-set on the store. Every method is asynchronous: it never
 * blocks the RPC thread while the store makes a write durable.
 *
 * <p>Idempotence: a repeated commit (rollback) of a transaction already committing or committed
 * (rolling back or rolled back) answers its current status; only a request that contradicts the
 * decision is refused.
 */
public final class Coordinator {

    private static final Logger log = LoggerFactory.getLogger(Coordinator.class);

    /** Longest reason from a client that is kept (the rest is cut). */
    private static final int MAX_REASON = 1000;

    private final TransactionStore store;
    private final Phase2Driver driver;
    private final BranchChannel channel;
    private final IdGenerator ids;
    private final TcMetrics metrics;
    private final Clock clock;
    private final String tcAddress;
    private final Duration defaultTimeout;
    private final Duration maxTimeout;
    private final TransactionProtocol defaultProtocol;
    private final int maxLockKeys;
    private final Limits limits;
    private final LockWaits lockWaits;

    /**
     * Caps on unfinished transactions (not in a final status: active, in phase 2, or waiting for a
     * person), checked at begin: they bound what the TC holds whatever the traffic. Concurrent begins
     * may pass a cap by as many as are in flight together.
     *
     * @param maxActive               in all
     * @param maxActivePerApplication of one application id (the TM's {@code application_id} in BeginRequest),
     *                                so one application cannot take the whole of {@code maxActive}
     */
    public record Limits(long maxActive, long maxActivePerApplication) {
    }

    /**
     * How to create a global transaction whose XID the TM made ({@link Xid#tmMade}, protocol minor 8),
     * carried on the TM process's requests for it until the TC has answered one: the TC creates the
     * transaction at the first it receives, with what Begin would have recorded.
     *
     * @param timeoutMs 0 for the TC's default
     * @param elapsedMs how long ago the TM began it, on the TM's monotonic clock: the deadline is
     *                  receive time - elapsed + timeout, whatever the two hosts' clocks say
     */
    public record Creation(String name, String applicationId, long timeoutMs, TransactionProtocol protocol,
                           long elapsedMs) {
    }

    public Coordinator(TransactionStore store, Phase2Driver driver, BranchChannel channel, IdGenerator ids,
                       TcMetrics metrics, Clock clock, String tcAddress, Duration defaultTimeout,
                       Duration maxTimeout, TransactionProtocol defaultProtocol, int maxLockKeys, Limits limits,
                       LockWaits lockWaits) {
        this.store = store;
        this.driver = driver;
        this.channel = channel;
        this.ids = ids;
        this.metrics = metrics;
        this.clock = clock;
        this.tcAddress = tcAddress;
        this.defaultTimeout = defaultTimeout;
        this.maxTimeout = maxTimeout;
        this.defaultProtocol = defaultProtocol;
        this.maxLockKeys = maxLockKeys;
        this.limits = limits;
        this.lockWaits = lockWaits;
    }

    public String tcAddress() {
        return tcAddress;
    }

    // ---- TM ----

    public CompletableFuture<GlobalTransaction> begin(String name, String applicationId, long timeoutMs,
                                                      TransactionProtocol protocol) {
        checkTimeout(timeoutMs);
        TransactionProtocol chosen = chosenProtocol(protocol);
        checkLimits(applicationId);
        long now = clock.millis();
        String xid = ids.nextXid().toString();
        GlobalTransaction tx = new GlobalTransaction(xid, name, applicationId, chosen, GlobalStatus.BEGIN, now,
                timeoutMs == 0 ? defaultTimeout.toMillis() : timeoutMs, "", "", now);
        return store.insertGlobal(tx).thenApply(v -> {
            metrics.begun();
            return tx;
        });
    }

    /**
     * Begin of an XID the TM made (its process is about to send the XID to another service before any
     * branch registered): creates the transaction unless the TC knows it, and answers it either way.
     */
    public CompletableFuture<GlobalTransaction> begin(String xid, Creation creation) {
        Optional<GlobalTransaction> known = lookup(xid);
        return known.isPresent() ? CompletableFuture.completedFuture(known.get()) : create(xid, creation);
    }

    private void checkTimeout(long timeoutMs) {
        if (timeoutMs < 0 || timeoutMs > maxTimeout.toMillis()) {
            throw CoordinatorException.invalid("Timeout " + timeoutMs + " ms is out of range: use 1.."
                    + maxTimeout.toMillis() + " ms (cohort.tc.max-timeout), or 0 for the default "
                    + defaultTimeout.toMillis() + " ms");
        }
    }

    private TransactionProtocol chosenProtocol(TransactionProtocol protocol) {
        TransactionProtocol chosen = protocol == TransactionProtocol.PROTOCOL_UNSPECIFIED ? defaultProtocol : protocol;
        if (chosen != TransactionProtocol.TWO_PHASE && chosen != TransactionProtocol.THREE_PHASE) {
            throw CoordinatorException.invalid("Unknown protocol " + protocol + ": use TWO_PHASE or THREE_PHASE");
        }
        return chosen;
    }

    /**
     * The transaction a TM-made XID's first request creates, in {@code status} (BEGIN, or the end of a
     * commit or rollback nobody registered a branch in), its begin time moved back by the TM's elapsed
     * time. Refuses what no TM of ours makes: an XID the TC would have issued (its transaction is gone
     * or never was, and must not come back), or one without a plausible address.
     */
    private GlobalTransaction toCreate(String xid, Creation creation, GlobalStatus status, String reason) {
        Xid parsed = Xid.parse(xid); // checked by lookup already
        if (!parsed.tmMade()) {
            throw CoordinatorException.unknownXid(xid, store.whyUnknown()
                    + "; only an XID a TM made (a 32-hex-digit tag) is created at its first request, use Begin otherwise");
        }
        if (!plausibleAddress(parsed.tcAddress())) {
            throw CoordinatorException.invalid("XID " + oneLine(xid) + " has no TC address of the form host:port before"
                    + " its tag: the TC creates only XIDs made by Cohort's TM");
        }
        if (creation.elapsedMs() < 0) {
            throw CoordinatorException.invalid("Creation of " + xid + " says it began " + creation.elapsedMs()
                    + " ms ago: elapsed_ms must be 0 or more");
        }
        checkTimeout(creation.timeoutMs());
        TransactionProtocol chosen = chosenProtocol(creation.protocol());
        long now = clock.millis();
        long timeout = creation.timeoutMs() == 0 ? defaultTimeout.toMillis() : creation.timeoutMs();
        return new GlobalTransaction(xid, creation.name(), creation.applicationId(), chosen, status,
                now - creation.elapsedMs(), timeout, "", reason, now);
    }

    private static boolean plausibleAddress(String address) {
        int colon = address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1 || colon < address.length() - 6) {
            return false;
        }
        for (int i = 0; i < address.length(); i++) {
            char c = address.charAt(i);
            if (c <= ' ' || c >= 0x7f) {
                return false;
            }
        }
        for (int i = colon + 1; i < address.length(); i++) {
            if (!Character.isDigit(address.charAt(i))) {
                return false;
            }
        }
        return Integer.parseInt(address.substring(colon + 1)) <= 65535;
    }

    /**
     * Creates the transaction of a TM-made XID the store does not know, in BEGIN, with the caps on
     * unfinished transactions checked as at Begin. Past its deadline already (the TM began it longer
     * ago than its timeout), it is recorded timed out and rolled back, and the request is refused with
     * GLOBAL_TIMED_OUT. Two first requests at once (here or at two replicas) create it once: the one
     * that loses goes on with the transaction the other created.
     */
    private CompletableFuture<GlobalTransaction> create(String xid, Creation creation) {
        GlobalTransaction tx = toCreate(xid, creation, GlobalStatus.BEGIN, "");
        if (tx.updatedAtMs() > tx.deadlineMs()) {
            return recordTimedOut(tx).thenApply(existing -> existing);
        }
        checkLimits(tx.applicationId());
        return store.createGlobal(tx).thenApply(created -> {
            if (!created) {
                return find(xid); // another request created it first
            }
            metrics.begun();
            log.debug("Global transaction {} created at its first request ({} ms after its TM began it)", xid,
                    creation.elapsedMs());
            return tx;
        });
    }

    /**
     * Records as timed out a transaction whose first request came after its deadline, and refuses the
     * request; completes (without refusing) with the transaction another request created meanwhile.
     */
    private CompletableFuture<GlobalTransaction> recordTimedOut(GlobalTransaction tx) {
        String reason = "timed out before the TC heard of it: its first request came " + (tx.updatedAtMs()
                - tx.beginTimeMs()) + " ms after its TM began it, timeout " + tx.timeoutMs() + " ms";
        return store.createGlobal(tx.withStatus(GlobalStatus.TIMEOUT_ROLLBACKED, reason, tx.updatedAtMs()))
                .thenApply(created -> {
                    if (!created) {
                        return find(tx.xid());
                    }
                    throw new CoordinatorException(ErrorCode.GLOBAL_TIMED_OUT, "Global transaction " + tx.xid() + " "
                            + reason + "; it is rolled back. Roll back the local work and begin again");
                });
    }

    /**
     * A commit, rollback or rollback-only mark for a TM-made XID nobody registered a branch in: there is
     * nothing to drive, so the TC records the end at once ({@code end}, or timed out for a commit past
     * the deadline). Recording it, rather than only answering, is what keeps a late registration with
     * the same XID from starting a transaction of its own. {@code orKnown} handles a transaction another
     * request created meanwhile.
     */
    private CompletableFuture<GlobalTransaction> endUnseen(String xid, Creation creation, GlobalStatus end,
                                                           String reason,
                                                           Function<GlobalTransaction, CompletableFuture<GlobalTransaction>> orKnown) {
        GlobalTransaction begun = toCreate(xid, creation, GlobalStatus.BEGIN, "");
        if (end == GlobalStatus.COMMITTED && begun.updatedAtMs() > begun.deadlineMs()) {
            return recordTimedOut(begun).thenCompose(orKnown);
        }
        GlobalTransaction ended = begun.withStatus(end, reason, begun.updatedAtMs());
        return store.createGlobal(ended).thenCompose(created -> {
            if (!created) {
                return orKnown.apply(find(xid));
            }
            log.debug("Global transaction {} ended {} with no branch registered", xid, end);
            return CompletableFuture.completedFuture(ended);
        });
    }

    /**
     * Whether a new transaction of {@code applicationId} passes the caps on the count the store has
     * without a read (see {@link TransactionStore#countUnfinishedWithoutReading}): its begin or
     * creation then reads nothing, since only a refusal counts again.
     */
    public boolean passesCapsWithoutReading(String applicationId) {
        return store.countUnfinishedWithoutReading(applicationId).map(this::underCaps).orElse(false);
    }

    private boolean underCaps(TransactionStore.Unfinished unfinished) {
        return unfinished.total() < limits.maxActive() && unfinished.ofApplication() < limits.maxActivePerApplication();
    }

    private void checkLimits(String applicationId) {
        TransactionStore.Unfinished unfinished = store.countUnfinished(applicationId);
        if (!underCaps(unfinished)) {
            unfinished = store.countUnfinishedExactly(applicationId); // a recent count may be stale: refuse on a fresh one
        }
        if (unfinished.total() >= limits.maxActive()) {
            metrics.refusedBegin();
            throw new CoordinatorException(ErrorCode.TOO_MANY_TRANSACTIONS, "The TC holds " + unfinished.total()
                    + " unfinished global transactions, its limit (cohort.tc.limits.max-active-transactions = "
                    + limits.maxActive() + "): no new one begins until some finish. Try again later; if the load is"
                    + " expected, raise the limit with the TC's heap");
        }
        if (unfinished.ofApplication() >= limits.maxActivePerApplication()) {
            metrics.refusedBegin();
            throw new CoordinatorException(ErrorCode.TOO_MANY_TRANSACTIONS, "Application '"
                    + oneLine(applicationId) + "' has " + unfinished.ofApplication()
                    + " unfinished global transactions, the limit per application id (with per-service identities,"
                    + " the authenticated service's name)"
                    + " (cohort.tc.limits.max-active-per-application = " + limits.maxActivePerApplication()
                    + "): no new one begins for it until some finish. Try again later");
        }
    }

    public CompletableFuture<GlobalTransaction> commit(String xid) {
        return commit(require(xid));
    }

    /** Commit of a TM-made XID: one the TC has not seen (no branch registered) is recorded COMMITTED. */
    public CompletableFuture<GlobalTransaction> commit(String xid, Creation creation) {
        Optional<GlobalTransaction> known = lookup(xid);
        if (known.isPresent() || creation == null) {
            return commit(known.orElseThrow(() -> CoordinatorException.unknownXid(xid, store.whyUnknown())));
        }
        return endUnseen(xid, creation, GlobalStatus.COMMITTED, "commit requested by TM: no branch registered",
                this::commit);
    }

    private CompletableFuture<GlobalTransaction> commit(GlobalTransaction tx) {
        String xid = tx.xid();
        GlobalStatus status = tx.status();
        log.debug("Commit of {} asked in status {}", xid, status);
        if (status == GlobalStatus.BEGIN) {
            if (clock.millis() > tx.deadlineMs()) {
                driver.timeOut(tx);
                throw new CoordinatorException(ErrorCode.GLOBAL_TIMED_OUT, "Global transaction " + xid
                        + " timed out after " + tx.timeoutMs() + " ms before commit was asked; it is being rolled back");
            }
            GlobalStatus decision = tx.protocol() == TransactionProtocol.THREE_PHASE
                    ? GlobalStatus.PRE_COMMITTING : GlobalStatus.ASYNC_COMMITTING;
            String reason = decision == GlobalStatus.PRE_COMMITTING
                    ? "commit requested by TM: collecting votes" : "commit requested by TM";
            // null: raced with a rollback or timeout, answer from the new status
            return driver.decide(tx, decision, reason, ChangeCause.TM).thenCompose(decided -> decided == null ? commit(find(xid))
                    : CompletableFuture.completedFuture(decided));
        }
        if (status.isCommitDecided() || status == GlobalStatus.PRE_COMMITTING) {
            return CompletableFuture.completedFuture(tx);
        }
        throw notActive(tx, "commit");
    }

    public CompletableFuture<GlobalTransaction> rollback(String xid) {
        return rollback(require(xid), "rollback requested by TM", ChangeCause.TM);
    }

    /** Rollback of a TM-made XID: one the TC has not seen (no branch registered) is recorded ROLLBACKED. */
    public CompletableFuture<GlobalTransaction> rollback(String xid, Creation creation) {
        Optional<GlobalTransaction> known = lookup(xid);
        if (known.isPresent() || creation == null) {
            return rollback(known.orElseThrow(() -> CoordinatorException.unknownXid(xid, store.whyUnknown())),
                    "rollback requested by TM", ChangeCause.TM);
        }
        return endUnseen(xid, creation, GlobalStatus.ROLLBACKED, "rollback requested by TM: no branch registered",
                tx -> rollback(tx, "rollback requested by TM", ChangeCause.TM));
    }

    /** @param reason why, and who asked: recorded on the transaction */
    private CompletableFuture<GlobalTransaction> rollback(GlobalTransaction tx, String reason, ChangeCause cause) {
        String xid = tx.xid();
        GlobalStatus status = tx.status();
        log.debug("Rollback of {} asked in status {}: {}", xid, status, reason);
        if (status == GlobalStatus.BEGIN) {
            return driver.decide(tx, GlobalStatus.ROLLBACKING, reason, cause).thenCompose(decided -> decided == null
                    ? rollback(find(xid), reason, cause) : CompletableFuture.completedFuture(decided));
        }
        if (status.isRollbackDecided()) {
            return CompletableFuture.completedFuture(tx);
        }
        throw new CoordinatorException(ErrorCode.GLOBAL_NOT_ACTIVE, "Cannot roll back global transaction " + xid
                + ": " + (status == GlobalStatus.PRE_COMMITTING ? "its commit vote is in progress"
                : "commit was already decided") + " (status " + status + ")");
    }

    public GlobalTransaction status(String xid) {
        return require(xid);
    }

    /** Phase-2 commands sent to each branch of {@code xid} by this replica (see {@link Phase2Driver#attempts}). */
    public java.util.Map<Long, Integer> branchAttempts(String xid) {
        return driver.attempts(xid);
    }

    /**
     * Whether the store holds {@code xid} in memory, so that a call on it waits on no database read
     * (see {@link TransactionStore#findGlobalWithoutReading}).
     */
    public boolean holdsInMemory(String xid) {
        return store.findGlobalWithoutReading(xid).isPresent();
    }

    /** The status of {@code xid} if the store knows it (no validation: for lock holders, which are ours). */
    public Optional<GlobalStatus> findStatus(String xid) {
        return store.findGlobal(xid).map(GlobalTransaction::status);
    }

    // ---- RM ----

    /**
     * The outcome of a branch registration, with the global transaction's protocol (the RM needs it for
     * 3PC) and how long it waited at the TC for rows another transaction held.
     */
    public record Registration(RegisterResult result, TransactionProtocol protocol, long waitedMs) {
    }

    /** Registers a branch, answering a lock conflict at once. */
    public CompletableFuture<Registration> registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId) {
        return registerBranch(xid, resourceId, lockKeys, applicationData, clientId, 0);
    }

    /**
     * Registers a branch; when another global transaction holds some of its rows, waits up to
     * {@code lockWaitMs} (and no longer than this transaction's own timeout) for them to be released,
     * in line behind earlier waiters ({@link LockWaits}). Cancelling the answer ends the wait.
     */
    public CompletableFuture<Registration> registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs) {
        return registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs, 0, null);
    }

    /**
     * Registers a branch as above; with {@code creation} (a TM-made XID), the first registration the TC
     * hears of creates the transaction.
     */
    public CompletableFuture<Registration> registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         Creation creation) {
        return registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs, 0, creation);
    }

    /** Registers a branch as above, under the branch id the RM chose. */
    public CompletableFuture<Registration> registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         long chosenBranchId) {
        return registerBranch(xid, resourceId, lockKeys, applicationData, clientId, lockWaitMs, chosenBranchId, null);
    }

    /**
     * Registers a branch, with the branch id the RM chose ({@code chosenBranchId} &gt; 0), so it could
     * write its undo log before this answer (0: the TC assigns one; an id the XID already has is refused,
     * {@code INVALID_REQUEST}, and nothing is stored), and with {@code creation} for a TM-made XID (the
     * first registration the TC hears of creates the transaction).
     */
    public CompletableFuture<Registration> registerBranch(String xid, String resourceId, List<String> lockKeys,
                                                         byte[] applicationData, String clientId, long lockWaitMs,
                                                         long chosenBranchId, Creation creation) {
        if (chosenBranchId < 0) {
            throw CoordinatorException.invalid("Branch registration for " + xid + " has a negative branch id ("
                    + chosenBranchId + "): an RM chooses a positive one, or 0 to let the TC assign it");
        }
        log.debug("Branch of {} on resource {} registering {} lock keys", xid, LogText.safe(resourceId), lockKeys.size());
        if (resourceId.isEmpty()) {
            throw CoordinatorException.invalid("Branch registration for " + xid + " has no resource id");
        }
        if (lockKeys.size() > maxLockKeys) {
            throw new CoordinatorException(ErrorCode.REQUEST_TOO_LARGE, "Branch of " + xid + " on " + resourceId
                    + " asks for " + lockKeys.size() + " lock keys; at most " + maxLockKeys
                    + " are allowed (cohort.tc.max-lock-keys): split the work into smaller local transactions");
        }
        List<RowKey> rows;
        try {
            rows = RowKey.expand(resourceId, lockKeys);
        } catch (IllegalArgumentException e) {
            throw CoordinatorException.invalid("Branch of " + xid + " on " + resourceId + ": " + e.getMessage());
        }
        if (rows.size() > maxLockKeys) {
            throw new CoordinatorException(ErrorCode.REQUEST_TOO_LARGE, "Branch of " + xid + " on " + resourceId
                    + " locks " + rows.size() + " rows; at most " + maxLockKeys + " are allowed (cohort.tc.max-lock-keys)");
        }
        if (!channel.hasResource(resourceId)) {
            throw new CoordinatorException(ErrorCode.UNKNOWN_RESOURCE, "No RM has announced resource '" + resourceId
                    + "' on this TC: the RM must open its command stream (hello with its resource ids) before "
                    + "registering branches, or phase 2 could never reach it");
        }
        // With a creation the transaction is most likely new: no read for it (the store's memory only);
        // creating it and registering is then one write, which finds out whether it existed.
        Optional<GlobalTransaction> known = creation == null ? lookup(xid) : lookupWithoutReading(xid);
        if (known.isPresent() || creation == null) {
            return register(known.orElseThrow(() -> CoordinatorException.unknownXid(xid, store.whyUnknown())),
                    resourceId, lockKeys, applicationData, clientId, lockWaitMs, chosenBranchId, rows, false);
        }
        GlobalTransaction fresh = toCreate(xid, creation, GlobalStatus.BEGIN, "");
        if (fresh.updatedAtMs() <= fresh.deadlineMs()) {
            checkLimits(fresh.applicationId());
            return register(fresh, resourceId, lockKeys, applicationData, clientId, lockWaitMs, chosenBranchId, rows,
                    true);
        }
        // Past its deadline already: recorded timed out (refused), unless another request created it.
        CompletableFuture<Registration> answer = new CompletableFuture<>();
        create(xid, creation).whenComplete((tx, created) -> {
            if (created != null) {
                answer.completeExceptionally(created);
                return;
            }
            try {
                CompletableFuture<Registration> registered = register(tx, resourceId, lockKeys, applicationData,
                        clientId, lockWaitMs, chosenBranchId, rows, false);
                registered.whenComplete((r, e) -> {
                    if (e != null) {
                        answer.completeExceptionally(e);
                    } else {
                        answer.complete(r);
                    }
                });
                answer.whenComplete((r, e) -> {
                    if (answer.isCancelled()) {
                        registered.cancel(false); // the caller went away: leave the queue
                    }
                });
            } catch (RuntimeException e) {
                answer.completeExceptionally(e);
            }
        });
        return answer;
    }

    /**
     * Registers a branch in {@code tx}; with {@code create}, {@code tx} is a TM-made XID's transaction
     * not found in the store's memory, which the first attempt creates with the registration (see
     * {@link TransactionStore#createAndRegister}); if it existed, the registration went to it and the
     * answer carries its protocol.
     */
    private CompletableFuture<Registration> register(GlobalTransaction tx, String resourceId, List<String> lockKeys,
                                                     byte[] applicationData, String clientId, long lockWaitMs,
                                                     long chosenBranchId, List<RowKey> rows, boolean create) {
        String xid = tx.xid();
        if (tx.status() == GlobalStatus.BEGIN && clock.millis() > tx.deadlineMs()) {
            driver.timeOut(tx);
            throw new CoordinatorException(ErrorCode.GLOBAL_TIMED_OUT, "Global transaction " + xid + " timed out after "
                    + tx.timeoutMs() + " ms; no more branches can join it. Roll back the local transaction.");
        }
        Branch branch = new Branch(xid, chosenBranchId > 0 ? chosenBranchId : ids.nextBranchId(), resourceId, clientId, lockKeys, applicationData,
                BranchStatus.REGISTERED, clock.millis(), "");
        long waitMs = Math.min(Math.max(0, lockWaitMs), Math.max(0, tx.deadlineMs() - clock.millis()));
        AtomicBoolean creating = new AtomicBoolean(create);
        AtomicBoolean existed = new AtomicBoolean();
        CompletableFuture<LockWaits.Outcome> waited = lockWaits.register(xid, waitMs, () -> {
            if (!creating.getAndSet(false)) {
                return store.registerBranch(branch, rows); // attempts after the first, after a lock wait
            }
            return store.createAndRegister(tx, branch, rows).thenApply(done -> {
                if (done.created()) {
                    metrics.begun();
                    log.debug("Global transaction {} created at its first registration", xid);
                } else {
                    existed.set(true); // another request created it first
                }
                return done.result();
            });
        });
        CompletableFuture<Registration> answer = waited.thenApply(outcome -> {
            RegisterResult result = outcome.result();
            if (result instanceof RegisterResult.Conflict) {
                metrics.lockConflict();
            }
            if (result instanceof RegisterResult.UnknownXid) {
                throw CoordinatorException.unknownXid(xid, store.whyUnknown());
            }
            if (result instanceof RegisterResult.DuplicateBranch) {
                throw CoordinatorException.invalid("Global transaction " + xid + " already has a branch "
                        + branch.branchId() + ": the RM must choose a new branch id for every branch (nothing was"
                        + " registered; roll back the local transaction)");
            }
            if (result instanceof RegisterResult.NotActive notActive) {
                throw notActive(tx.withStatus(notActive.status(), "", 0), "register a branch in");
            }
            TransactionProtocol protocol = existed.get() ? find(xid).protocol() : tx.protocol();
            return new Registration(result, protocol, outcome.waitedMs());
        });
        answer.whenComplete((r, e) -> {
            if (answer.isCancelled()) {
                waited.cancel(false); // the caller went away: leave the queue
            }
        });
        return answer;
    }

    /**
     * An RM tells the outcome of a branch: a phase-1 failure, or (3PC) a branch it finished on its
     * own while no TC answered. A finish against the global decision is a heuristic outcome: the
     * evidence goes on the branch and the transaction, and the driver repairs it.
     */
    public CompletableFuture<GlobalStatus> reportBranch(String xid, long branchId, BranchStatus status, String reason,
                                                       boolean decidedByRm) {
        GlobalTransaction tx = require(xid);
        boolean againstDecision = decidedByRm
                && (tx.status().isCommitDecided() && status == BranchStatus.PHASE2_ROLLBACKED
                || tx.status().isRollbackDecided() && status == BranchStatus.PHASE2_COMMITTED);
        String recorded = decidedByRm ? "finished by its RM on its own: " + reason : reason;
        return store.updateBranch(xid, branchId, status, recorded, ChangeCause.RM).thenCompose(found -> {
            if (!found) {
                throw new CoordinatorException(ErrorCode.UNKNOWN_BRANCH, "Global transaction " + xid
                        + " has no branch " + branchId);
            }
            if (status == BranchStatus.PHASE1_FAILED) {
                // The branch is registered but its local transaction did not commit: it must not commit alone.
                return rollbackOnly(find(xid), "branch " + branchId, reason).thenApply(GlobalTransaction::status);
            }
            if (!againstDecision) {
                return CompletableFuture.completedFuture(tx.status());
            }
            String evidence = "branch " + branchId + " was " + (status == BranchStatus.PHASE2_ROLLBACKED
                    ? "rolled back" : "committed") + " by its RM on its own (" + reason + ") while the decision was "
                    + (tx.status().isCommitDecided() ? "commit" : "rollback");
            metrics.heuristic();
            // The replica holding the lease repairs it; this one only when nobody holds a live lease.
            return store.markHeuristic(xid, evidence).thenCompose(v -> store.acquireLease(xid, false))
                    .thenApply(mine -> {
                        if (mine) {
                            driver.drive(xid);
                        }
                        return tx.status();
                    });
        });
    }

    /**
     * A branch of {@code xid} failed in phase 1 (its registration was refused, a statement its RM had
     * started failed, or its local commit failed): committing would commit only the branches that did
     * register. A transaction still in BEGIN is rolled back at once, durably and with the reason, so a
     * later commit is refused with it whatever the TM's rules make of the exception; rolling back now
     * rather than at the TM's commit frees the locks early and fails the rest of its work fast.
     * Answers the status the transaction is in afterwards; a commit decided before the report came is
     * not undone (it is in the answer, for the RM to report).
     */
    public CompletableFuture<GlobalTransaction> markRollbackOnly(String xid, String resourceId, String reason) {
        return markRollbackOnly(xid, resourceId, reason, null);
    }

    /**
     * As above; with {@code creation} (a TM-made XID), one the TC has not seen is recorded rolled back
     * with the reason, so the TM's commit is refused with it.
     */
    public CompletableFuture<GlobalTransaction> markRollbackOnly(String xid, String resourceId, String reason,
                                                                 Creation creation) {
        String who = "a branch on resource " + resourceId;
        Optional<GlobalTransaction> known = lookup(xid);
        if (known.isPresent() || creation == null) {
            return rollbackOnly(known.orElseThrow(() -> CoordinatorException.unknownXid(xid, store.whyUnknown())),
                    who, reason);
        }
        return endUnseen(xid, creation, GlobalStatus.ROLLBACKED, "rollback-only: " + who + " failed in phase 1: "
                + oneLine(reason), tx -> rollbackOnly(tx, who, reason));
    }

    private CompletableFuture<GlobalTransaction> rollbackOnly(GlobalTransaction tx, String who, String reason) {
        if (tx.status() != GlobalStatus.BEGIN) {
            return CompletableFuture.completedFuture(tx);
        }
        String recorded = "rollback-only: " + who + " failed in phase 1: " + oneLine(reason);
        return driver.decide(tx, GlobalStatus.ROLLBACKING, recorded, ChangeCause.RM).thenCompose(decided -> decided == null
                ? rollbackOnly(find(tx.xid()), who, reason) // raced: answer from the new status
                : CompletableFuture.completedFuture(decided));
    }

    /** A reason from a client as one bounded line: it goes into logs, the store and other clients' errors. */
    private static String oneLine(String reason) {
        String line = reason.replaceAll("\\s+", " ").strip();
        return line.length() <= MAX_REASON ? line : line.substring(0, MAX_REASON) + "...";
    }

    public Optional<RowLock> queryLocks(String resourceId, List<String> lockKeys, String ownXid) {
        if (lockKeys.size() > maxLockKeys) {
            throw new CoordinatorException(ErrorCode.REQUEST_TOO_LARGE, "Lock query on " + resourceId + " names "
                    + lockKeys.size() + " keys; at most " + maxLockKeys + " are allowed");
        }
        try {
            return store.findConflict(RowKey.expand(resourceId, lockKeys), ownXid);
        } catch (IllegalArgumentException e) {
            throw CoordinatorException.invalid("Lock query on " + resourceId + ": " + e.getMessage());
        }
    }

    // ---- people (REST API) ----

    /**
     * Retries phase 2 of a transaction that waits for a person (or is retrying) right now, with a fresh retry budget.
     *
     * @param requestedBy who asked, recorded on the transaction (e.g. "admin from 10.0.0.7 over REST")
     */
    public GlobalTransaction retry(String xid, String requestedBy) {
        GlobalTransaction tx = require(xid);
        return driver.retryNow(tx, "retry requested by " + requestedBy);
    }

    /** Rolls back a transaction still in BEGIN, or retries the rollback of one whose rollback failed. */
    public CompletableFuture<GlobalTransaction> forceRollback(String xid, String requestedBy) {
        GlobalTransaction tx = require(xid);
        if (tx.status() == GlobalStatus.BEGIN) {
            return rollback(tx, "rollback requested by " + requestedBy, ChangeCause.OPERATOR);
        }
        if (tx.status().isRollbackDecided() && !tx.status().isFinal()) {
            return CompletableFuture.completedFuture(driver.retryNow(tx, "rollback retry requested by " + requestedBy));
        }
        throw new CoordinatorException(ErrorCode.ILLEGAL_TRANSITION, "Cannot force a rollback of " + xid + " in status "
                + tx.status() + ": only BEGIN, or a rollback that is retrying or failed, can be rolled back");
    }

    /**
     * The transaction a caller names, its XID checked: the one place an XID from outside is parsed
     * (the gRPC service and the REST API leave it to this), once per call.
     */
    private GlobalTransaction require(String xid) {
        try {
            Xid.parse(xid);
        } catch (IllegalArgumentException e) {
            throw CoordinatorException.invalid(e.getMessage());
        }
        return find(xid);
    }

    /** The transaction a caller names if the store knows it, its XID checked as in {@link #require}. */
    private Optional<GlobalTransaction> lookup(String xid) {
        Optional<GlobalTransaction> remembered = store.findGlobalWithoutReading(xid);
        if (remembered.isPresent()) {
            return remembered; // an XID the store holds was checked when its transaction was created
        }
        checkXid(xid);
        return store.findGlobal(xid);
    }

    /** As {@link #lookup}, from the store's memory only (see {@link TransactionStore#findGlobalWithoutReading}). */
    private Optional<GlobalTransaction> lookupWithoutReading(String xid) {
        Optional<GlobalTransaction> remembered = store.findGlobalWithoutReading(xid);
        if (remembered.isEmpty()) {
            checkXid(xid);
        }
        return remembered;
    }

    /**
     * Refuses a malformed XID. Only one the store does not hold is parsed: parsing the XID of every
     * call cost about 2% of the TC's CPU under load (bench/MEASUREMENTS.md, "The TC alone").
     */
    private static void checkXid(String xid) {
        try {
            Xid.parse(xid);
        } catch (IllegalArgumentException e) {
            throw CoordinatorException.invalid(e.getMessage());
        }
    }

    /** The transaction of an XID already checked (read again after a race). */
    private GlobalTransaction find(String xid) {
        return store.findGlobal(xid).orElseThrow(() -> CoordinatorException.unknownXid(xid, store.whyUnknown()));
    }

    private static CoordinatorException notActive(GlobalTransaction tx, String what) {
        GlobalStatus status = tx.status();
        ErrorCode code = status == GlobalStatus.TIMEOUT_ROLLBACKING || status == GlobalStatus.TIMEOUT_ROLLBACKED
                || status == GlobalStatus.TIMEOUT_ROLLBACK_RETRYING ? ErrorCode.GLOBAL_TIMED_OUT : ErrorCode.GLOBAL_NOT_ACTIVE;
        return new CoordinatorException(code, "Cannot " + what + " global transaction " + tx.xid() + ": it is "
                + status + (status.isRollbackDecided() ? " (rolled back" + (tx.reason().isEmpty() ? "" : ": " + tx.reason()) + ")" : "")
                + "; only a transaction in BEGIN accepts this");
    }
}
