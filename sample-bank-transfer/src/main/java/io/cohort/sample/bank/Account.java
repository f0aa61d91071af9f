package io.cohort.sample.bank;

import jakarta.persistence.Entity;
import jakarta.persistence.Id;
import jakarta.persistence.Table;

/** A bank account; the balance is in cents. */
@Entity
@Table(name = "account")
public class Account {

    @Id
    private Long id;

    private String owner;

    private long balance;

    protected Account() {
    }

    public Long getId() {
        return id;
    }

    public String getOwner() {
        return owner;
    }

    public long getBalance() {
        return balance;
    }
}
