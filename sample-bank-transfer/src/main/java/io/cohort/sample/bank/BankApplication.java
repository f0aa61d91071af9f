package io.cohort.sample.bank;

import java.util.Locale;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/**
 * One bank service. Both banks run this same application; the Spring profile {@code bank-a} or
 * {@code bank-b} says which one it is (its name, port, database and the other bank's URL — see
 * {@code application-bank-a.yaml}). One application with a profile per bank keeps the two banks
 * provably identical: a transfer can go either way, and the demo reads as "the same code, twice".
 *
 * <p>Cohort is wired by Spring Boot auto-configuration alone: the TM (tm-annotations) makes
 * {@code @GlobalTransactional} work and carries the XID over HTTP; the RM (rm-client) wraps the
 * DataSource so every local transaction inside a global one becomes a branch with an undo log.
 */
@SpringBootApplication
@ConfigurationPropertiesScan
public class BankApplication {

    /** Starts bank {@code name} ("a" or "b") with extra {@code --name=value} arguments. */
    public static void run(String name, String... args) {
        String bank = name.toLowerCase(Locale.ROOT);
        if (!bank.equals("a") && !bank.equals("b")) {
            throw new IllegalArgumentException("--bank must be a or b, was '" + name + "'");
        }
        SpringApplication app = new SpringApplication(BankApplication.class);
        app.setAdditionalProfiles("bank-" + bank);
        app.run(args);
    }
}
