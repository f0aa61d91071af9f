package io.cohort.sample.bank;

import jakarta.persistence.EntityManager;
import org.hibernate.exception.ConstraintViolationException;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/**
 * This bank's side of a transfer, each a local transaction: the balance change and the ledger
 * entry commit together. Inside a global transaction the RM turns that local transaction into a
 * branch (global row locks, undo log) — nothing here knows about it.
 */
@Service
public class Accounts {

    private final AccountRepository accounts;
    private final EntityManager entityManager;
    private final String bank;

    public Accounts(AccountRepository accounts, EntityManager entityManager, BankProperties properties) {
        this.accounts = accounts;
        this.entityManager = entityManager;
        this.bank = properties.name();
    }

    @Transactional
    public void debit(String transferId, long accountId, long amount) {
        if (accounts.debit(accountId, amount) == 0) {
            throw accounts.existsById(accountId)
                    ? new TransferRefusedException(HttpStatus.CONFLICT, "account " + accountId + " in bank " + bank
                            + " has less than " + amount)
                    : TransferRefusedException.unknownAccount(bank, accountId);
        }
        record(transferId, accountId, -amount);
    }

    @Transactional
    public void credit(String transferId, long accountId, long amount) {
        if (accounts.credit(accountId, amount) == 0) {
            throw TransferRefusedException.unknownAccount(bank, accountId);
        }
        record(transferId, accountId, amount);
    }

    private void record(String transferId, long accountId, long amount) {
        entityManager.persist(new LedgerEntry(transferId, accountId, amount));
        try {
            entityManager.flush();
        } catch (ConstraintViolationException e) {
            throw new TransferRefusedException(HttpStatus.CONFLICT, "transfer " + transferId
                    + " was already applied in bank " + bank);
        }
    }
}
