package io.cohort.sample.bank;

import io.cohort.tm.GlobalTransactionBeginException;
import io.cohort.tm.GlobalTransactionException;
import io.cohort.tm.GlobalTransactionPropagationException;
import io.cohort.tm.GlobalTransactionRolledBackException;
import java.util.List;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * The bank's HTTP API:
 * <ul>
 *   <li>{@code POST /transfers {"from":1,"to":2,"amount":500}} — from an account here to one in the
 *       other bank (optional: {@code "id"}, a transfer id that applies at most once;
 *       {@code "failInPeer":true}, the other bank fails after crediting);</li>
 *   <li>{@code GET /accounts}, {@code GET /accounts/{id}} — balances, in cents;</li>
 *   <li>{@code GET /total} — the sum of all balances;</li>
 *   <li>{@code POST /credits} — the other bank's half of a transfer (inside its global transaction only).</li>
 * </ul>
 * A transfer's answer says what became of it: {@code COMMITTED} (200), {@code ROLLED_BACK} (4xx/5xx:
 * nothing was changed in either bank), or {@code UNKNOWN} (500: the TC did not confirm the commit;
 * look the XID up on the TC — it ends one way or the other in both banks).
 */
@RestController
public class BankController {

    private static final Logger log = LoggerFactory.getLogger(BankController.class);

    /** {@code failInPeer} is boxed: Jackson 3 refuses a missing primitive, and most requests leave it out. */
    public record TransferRequest(String id, long from, long to, long amount, Boolean failInPeer) {
    }

    public record TransferResult(String id, String status, String xid, String error) {
    }

    public record Total(String bank, long accounts, long total, long negative) {
    }

    private final Transfers transfers;
    private final AccountRepository accounts;
    private final String bank;

    public BankController(Transfers transfers, AccountRepository accounts, BankProperties properties) {
        this.transfers = transfers;
        this.accounts = accounts;
        this.bank = properties.name();
    }

    @PostMapping("/transfers")
    public ResponseEntity<TransferResult> transfer(@RequestBody TransferRequest r) {
        String id = r.id() == null || r.id().isBlank() ? UUID.randomUUID().toString() : r.id();
        try {
            String xid = transfers.transfer(id, r.from(), r.to(), r.amount(), Boolean.TRUE.equals(r.failInPeer()));
            return ResponseEntity.ok(new TransferResult(id, "COMMITTED", xid, null));
        } catch (TransferRefusedException e) {
            return failed(e.status(), id, "ROLLED_BACK", null, e);
        } catch (GlobalTransactionBeginException e) {
            return failed(HttpStatus.SERVICE_UNAVAILABLE, id, "ROLLED_BACK", null, e);
        } catch (GlobalTransactionRolledBackException e) {
            return failed(HttpStatus.CONFLICT, id, "ROLLED_BACK", e.xid(), e);
        } catch (GlobalTransactionException e) {
            // Commit not confirmed: the TC decides, and both banks end the same way.
            log.warn("Transfer {}: outcome unknown: {}", id, e.getMessage());
            return failed(HttpStatus.INTERNAL_SERVER_ERROR, id, "UNKNOWN", e.xid(), e);
        } catch (RuntimeException e) {
            // The method threw, so the TM rolled the global transaction back (or the TC's timeout will).
            return failed(e instanceof PeerBank.PeerBankException ? HttpStatus.BAD_GATEWAY : HttpStatus.INTERNAL_SERVER_ERROR,
                    id, "ROLLED_BACK", null, e);
        }
    }

    private static ResponseEntity<TransferResult> failed(HttpStatus status, String id, String outcome, String xid,
                                                         Exception e) {
        log.info("Transfer {} {}: {}", id, outcome, describe(e));
        return ResponseEntity.status(status).body(new TransferResult(id, outcome, xid, describe(e)));
    }

    /** The message, and the root cause's when it says more (Spring wraps JDBC and RM errors). */
    private static String describe(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == e || root.getMessage() == null ? e.getMessage() : root.getMessage();
    }

    @PostMapping("/credits")
    public ResponseEntity<PeerBank.ErrorBody> credit(@RequestBody PeerBank.CreditRequest r) {
        try {
            transfers.credit(r.transferId(), r.account(), r.amount(), r.fail());
            return ResponseEntity.ok(new PeerBank.ErrorBody(null));
        } catch (TransferRefusedException e) {
            return ResponseEntity.status(e.status()).body(new PeerBank.ErrorBody(e.getMessage()));
        } catch (GlobalTransactionPropagationException e) {
            return ResponseEntity.badRequest().body(new PeerBank.ErrorBody("credits are only made inside a transfer: "
                    + e.getMessage()));
        } catch (RuntimeException e) {
            // The caller's global transaction rolls back, undoing this credit too.
            log.info("Credit for transfer {} failed: {}", r.transferId(), describe(e));
            return ResponseEntity.internalServerError().body(new PeerBank.ErrorBody(describe(e)));
        }
    }

    @GetMapping("/accounts")
    public List<Account> accounts() {
        return accounts.findAllByOrderByIdAsc();
    }

    @GetMapping("/accounts/{id}")
    public ResponseEntity<Account> account(@PathVariable long id) {
        return ResponseEntity.of(accounts.findById(id));
    }

    @GetMapping("/total")
    public Total total() {
        return new Total(bank, accounts.count(), accounts.total(), accounts.countNegative());
    }
}
