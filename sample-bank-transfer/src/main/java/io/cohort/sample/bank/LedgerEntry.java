package io.cohort.sample.bank;

import jakarta.persistence.Column;
import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

/**
 * This bank's half of one transfer: the debit (negative amount) or the credit (positive). Its
 * primary key is the transfer id, so a transfer applies at most once per bank.
 */
@Entity
@Table(name = "ledger")
public class LedgerEntry {

    @Id
    @Column(name = "transfer_id")
    private String transferId;

    @Column(name = "account_id")
    private long accountId;

    private long amount;

    protected LedgerEntry() {
    }

    public LedgerEntry(String transferId, long accountId, long amount) {
        this.transferId = transferId;
        this.accountId = accountId;
        this.amount = amount;
    }

    public String getTransferId() {
        return transferId;
    }

    public long getAccountId() {
        return accountId;
    }

    public long getAmount() {
        return amount;
    }
}
