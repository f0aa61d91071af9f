package io.cohort.sample.bank;

import io.cohort.client.XidContext;
import io.cohort.tm.GlobalTransactional;
import io.cohort.tm.Propagation;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;

/**
 * A transfer: debit here, credit in the other bank, as one global transaction. This is the whole
 * of what an application writes to use Cohort — the annotation; the rest is configuration.
 */
@Service
public class Transfers {

    private final Accounts accounts;
    private final PeerBank peer;

    public Transfers(Accounts accounts, PeerBank peer) {
        this.accounts = accounts;
        this.peer = peer;
    }

    /**
     * Debits {@code from} in this bank and credits {@code to} in the other bank. Any exception —
     * insufficient funds, an unknown account on either side, the other bank failing or not
     * answering — rolls back both sides; returning normally commits both.
     *
     * @param failInPeer ask the other bank to fail after it has credited (a fault to watch the rollback)
     * @return the XID of the global transaction
     */
    @GlobalTransactional(name = "transfer", timeoutMs = 30_000)
    public String transfer(String transferId, long from, long to, long amount, boolean failInPeer) {
        if (amount <= 0) {
            throw new TransferRefusedException(HttpStatus.BAD_REQUEST, "amount must be positive, was " + amount);
        }
        accounts.debit(transferId, from, amount);              // branch 1: this bank's database
        peer.credit(transferId, to, amount, failInPeer);       // branch 2: the other bank's database
        return XidContext.current();
    }

    /**
     * The other bank's half, called by it over HTTP with the XID in a header. MANDATORY: a credit
     * never happens outside a transfer's global transaction.
     */
    @GlobalTransactional(name = "credit", propagation = Propagation.MANDATORY)
    public void credit(String transferId, long to, long amount, boolean fail) {
        accounts.credit(transferId, to, amount);               // committed locally, undone if the transfer rolls back
        if (fail) {
            throw new IllegalStateException("bank fails after crediting account " + to + " (asked to, for the demo)");
        }
    }
}
