package io.cohort.sample.bank;

import org.springframework.http.HttpStatus;

/** A transfer the bank refuses: unknown account, insufficient funds, bad amount, a transfer id seen before. */
public class TransferRefusedException extends RuntimeException {

    private final HttpStatus status;

    public TransferRefusedException(HttpStatus status, String message) {
        super(message);
        this.status = status;
    }

    public HttpStatus status() {
        return status;
    }

    public static TransferRefusedException unknownAccount(String bank, long id) {
        return new TransferRefusedException(HttpStatus.NOT_FOUND, "bank " + bank + " has no account " + id);
    }
}
