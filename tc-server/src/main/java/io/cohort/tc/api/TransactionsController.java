package io.cohort.tc.api;

import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.rpc.BranchDispatcher;
import io.cohort.tc.coordinator.Coordinator;
import io.cohort.tc.coordinator.CoordinatorException;
import io.cohort.tc.coordinator.TcMetrics;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.model.StatusChange;
import io.cohort.tc.store.GlobalQuery;
import io.cohort.tc.store.Page;
import io.cohort.tc.store.TransactionStore;
import jakarta.servlet.http.HttpServletRequest;
import java.security.Principal;
import java.time.Clock;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/**
 * The REST API for people and tools: look at transactions, branches and locks; unstick a
 * transaction that waits for a person. Errors come back as {@link ApiError} with a reason.
 */
@RestController
@RequestMapping("/api/v1")
public class TransactionsController {

    static final int MAX_PAGE_SIZE = 500;

    private final TransactionStore store;
    private final Coordinator coordinator;
    private final BranchDispatcher dispatcher;
    private final ApiAudit audit;
    private final TcMetrics metrics;
    private final Clock clock;

    public TransactionsController(TransactionStore store, Coordinator coordinator, BranchDispatcher dispatcher,
                                  ApiAudit audit, TcMetrics metrics, Clock clock) {
        this.audit = audit;
        this.metrics = metrics;
        this.clock = clock;
        this.store = store;
        this.coordinator = coordinator;
        this.dispatcher = dispatcher;
    }

    /** A global transaction with its branches, the row locks it holds, and its status history (oldest first). */
    public record TransactionDetail(GlobalTransaction transaction, List<BranchView> branches, List<LockView> locks,
                                    List<StatusChange> history) {
    }

    /**
     * A branch as shown by the API (application data left out). {@code attempts}: phase-2 commands this
     * TC replica sent it (retries included) since it began driving the transaction; {@code reason}: the
     * branch's last error or outcome.
     */
    public record BranchView(long branchId, String resourceId, String clientId, List<String> lockKeys, String status,
                             long registeredAtMs, String reason, int attempts) {
        static BranchView of(Branch b, Map<Long, Integer> attempts) {
            return new BranchView(b.branchId(), b.resourceId(), b.clientId(), b.lockKeys(), b.status().name(),
                    b.registeredAtMs(), b.reason(), attempts.getOrDefault(b.branchId(), 0));
        }
    }

    public record LockView(String resourceId, String table, String pk, String xid, long branchId, long acquiredAtMs) {
        static LockView of(RowLock l) {
            return new LockView(l.row().resourceId(), l.row().table(), l.row().pk(), l.xid(), l.branchId(), l.acquiredAtMs());
        }
    }

    public record RmView(String clientId, String applicationId, Set<String> resourceIds) {
    }

    @GetMapping("/transactions")
    public Page<GlobalTransaction> list(@RequestParam(required = false) String status,
                                        @RequestParam(required = false) String name,
                                        @RequestParam(required = false) String applicationId,
                                        @RequestParam(defaultValue = "0") long olderThanSeconds,
                                        @RequestParam(defaultValue = "0") int page,
                                        @RequestParam(defaultValue = "50") int size) {
        checkPaging(page, size);
        if (olderThanSeconds < 0) {
            throw CoordinatorException.invalid("olderThanSeconds must be >= 0 (was " + olderThanSeconds + ")");
        }
        long beganBefore = olderThanSeconds == 0 ? 0 : clock.millis() - olderThanSeconds * 1000;
        return store.listGlobals(new GlobalQuery(parseStatuses(status), name, applicationId, beganBefore), page, size);
    }

    /** What the console's overview shows: transactions per status now, and counters since start. */
    public record Overview(Map<GlobalStatus, Long> statusCounts, TcMetrics.Snapshot metrics) {
    }

    @GetMapping("/overview")
    public Overview overview() {
        Map<GlobalStatus, Long> counts = new EnumMap<>(GlobalStatus.class);
        for (GlobalStatus s : GlobalStatus.values()) {
            counts.put(s, 0L);
        }
        counts.putAll(store.countByStatus());
        return new Overview(counts, metrics.snapshot(clock.millis()));
    }

    @GetMapping("/transactions/{xid}")
    public TransactionDetail get(@PathVariable String xid) {
        GlobalTransaction tx = coordinator.status(xid);
        Map<Long, Integer> attempts = coordinator.branchAttempts(xid);
        return new TransactionDetail(tx, store.findBranches(xid).stream().map(b -> BranchView.of(b, attempts)).toList(),
                store.findLocks(xid).stream().map(LockView::of).toList(), store.history(xid));
    }

    @PostMapping("/transactions/{xid}/retry")
    public GlobalTransaction retry(@PathVariable String xid, Principal principal, HttpServletRequest request) {
        return audited("retry", xid, principal, request, caller -> coordinator.retry(xid, caller));
    }

    @PostMapping("/transactions/{xid}/rollback")
    public GlobalTransaction rollback(@PathVariable String xid, Principal principal, HttpServletRequest request) {
        return audited("rollback", xid, principal, request, caller -> coordinator.forceRollback(xid, caller).join());
    }

    /** Runs a change asked by a person and logs who asked it, from where, and how it ended. */
    private GlobalTransaction audited(String action, String xid, Principal principal, HttpServletRequest request,
                                      Function<String, GlobalTransaction> change) {
        String caller = ApiAudit.caller(principal.getName(), request);
        try {
            GlobalTransaction result = change.apply(caller);
            audit.adminAction(caller, action, xid, "now " + result.status());
            return result;
        } catch (RuntimeException e) {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            audit.adminAction(caller, action, xid, "refused: " + cause.getMessage());
            throw e;
        }
    }

    @GetMapping("/locks")
    public Page<LockView> locks(@RequestParam(required = false) String resourceId,
                                @RequestParam(defaultValue = "0") int page,
                                @RequestParam(defaultValue = "50") int size) {
        checkPaging(page, size);
        Page<RowLock> locks = store.listLocks(resourceId, page, size);
        return new Page<>(locks.items().stream().map(LockView::of).toList(), locks.page(), locks.size(), locks.total());
    }

    @GetMapping("/rms")
    public List<RmView> rms() {
        return dispatcher.sessions().stream()
                .map(s -> new RmView(s.clientId(), s.applicationId(), s.resourceIds())).toList();
    }

    private static void checkPaging(int page, int size) {
        if (page < 0 || size < 1 || size > MAX_PAGE_SIZE) {
            throw CoordinatorException.invalid("page must be >= 0 and size 1.." + MAX_PAGE_SIZE + " (was page=" + page
                    + ", size=" + size + ")");
        }
    }

    private static Set<GlobalStatus> parseStatuses(String csv) {
        Set<GlobalStatus> statuses = EnumSet.noneOf(GlobalStatus.class);
        if (csv == null || csv.isBlank()) {
            return statuses;
        }
        for (String s : csv.split(",")) {
            try {
                statuses.add(GlobalStatus.valueOf(s.trim().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw CoordinatorException.invalid("Unknown status '" + s.trim() + "'; use one of "
                        + Arrays.toString(GlobalStatus.values()));
            }
        }
        return statuses;
    }
}
