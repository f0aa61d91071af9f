package io.cohort.sample.bank;

import io.cohort.sample.bank.demo.Demo;
import java.util.Arrays;

/**
 * The entry point of {@code bank-transfer-demo.jar}. Two ways to run it:
 * <ul>
 *   <li>{@code java -jar bank-transfer-demo.jar} — the whole demo ({@link Demo}): a TC, PostgreSQL,
 *       both banks as child processes, and a scenario;</li>
 *   <li>{@code java -jar bank-transfer-demo.jar --bank=a} (or {@code b}) — one bank service
 *       ({@link BankApplication}), e.g. against a TC and a PostgreSQL you already run.</li>
 * </ul>
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        String bank = Arrays.stream(args).filter(a -> a.startsWith("--bank="))
                .map(a -> a.substring("--bank=".length())).findFirst().orElse(null);
        if (bank == null) {
            // Before anything logs: the demo's console is for the scenario.
            System.setProperty("logback.configurationFile", "demo-logback.xml");
            System.exit(Demo.run(args));
        }
        BankApplication.run(bank, Arrays.stream(args).filter(a -> !a.startsWith("--bank=")).toArray(String[]::new));
    }
}
