package io.cohort.sample.bank;

import java.net.URI;
import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * The {@code bank.*} settings of one bank.
 *
 * @param name          "a" or "b"; also the service name the TC shows ({@code bank-a})
 * @param peerUrl       base URL of the other bank, which credits the transfers this bank sends
 * @param peerTimeout   how long to wait for the other bank; a transfer that waits longer is rolled back
 * @param seedAccounts  accounts 1..n created when the account table is empty
 * @param seedBalance   balance of each seeded account, in cents
 */
@ConfigurationProperties("bank")
public record BankProperties(String name, URI peerUrl, Duration peerTimeout, int seedAccounts, long seedBalance) {
}
