package io.cohort.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.Test;

/** A mistaken argument to {@code tc} or {@code transfer}: one line naming it, the usage, exit code 2; no stack trace. */
class BenchArgumentsTest {

    @Test
    void aMistakeInTcArgumentsIsOneLineThenTheUsageAndExitCode2() throws Exception {
        Outcome o = run("tc", "--concurency=64");
        assertThat(o.exit).isEqualTo(2);
        assertThat(o.err.lines().findFirst().orElseThrow())
                .isEqualTo("cohort-bench tc: Unknown argument '--concurency=64': use --name=value with a name among "
                        + String.join(", ", TcBench.Options.NAMES));
        assertThat(o.err).contains(TcBench.USAGE).doesNotContain("Exception").doesNotContain("\tat ");
        assertThat(o.out).isEmpty();

        assertThat(run("tc", "--concurrency=16,x").err).startsWith(
                "cohort-bench tc: --concurrency must be a whole number of at least 1, was 'x'");
        assertThat(run("tc", "--store=redis").err).startsWith(
                "cohort-bench tc: --store takes embedded and/or postgres, was 'redis'");
        assertThat(run("tc", "--thread-counts=yes").err).startsWith(
                "cohort-bench tc: --thread-counts takes true or false, was 'yes'");
        assertThat(run("tc", "--duration=soon").err).startsWith("cohort-bench tc: --duration must be a duration");
        assertThat(run("--warmup=-1s").exit).isEqualTo(2); // tc is the default benchmark
    }

    @Test
    void aMistakeInTransferArgumentsIsOneLineThenTheUsageAndExitCode2() throws Exception {
        Outcome o = run("transfer", "--drivers=seata");
        assertThat(o.exit).isEqualTo(2);
        assertThat(o.err.lines().findFirst().orElseThrow()).startsWith("cohort-bench transfer: Unknown driver 'seata'");
        assertThat(o.err).contains(TransferBench.USAGE).doesNotContain("Exception");
    }

    @Test
    void helpPrintsTheUsageAndRunsNothing() throws Exception {
        Outcome tc = run("tc", "--help");
        assertThat(tc.exit).isZero();
        assertThat(tc.out).contains(TcBench.USAGE);
        assertThat(tc.err).isEmpty();
        Outcome transfer = run("transfer", "-h");
        assertThat(transfer.exit).isZero();
        assertThat(transfer.out).contains(TransferBench.USAGE);
    }

    @Test
    void tcOptionsAreReadWithTheirDefaults() {
        TcBench.Options o = TcBench.Options.parse("--store=embedded,postgres", "--concurrency=16, 64", "--duration=30s",
                "--warmup=0s", "--tc-java-opts=-Xmx256m  -XX:+UseSerialGC", "--tc-jar=/x/tc.jar", "--thread-counts=true");
        assertThat(o.threadCounts()).isTrue();
        assertThat(o.stores()).containsExactly("embedded", "postgres");
        assertThat(o.concurrencies()).containsExactly(16, 64);
        assertThat(o.duration()).isEqualTo(Duration.ofSeconds(30));
        assertThat(o.warmup()).isZero();
        assertThat(o.tcJavaOpts()).containsExactly("-Xmx256m", "-XX:+UseSerialGC");
        assertThat(o.tcJar()).isEqualTo("/x/tc.jar");
        TcBench.Options defaults = TcBench.Options.parse();
        assertThat(defaults.stores()).isEqualTo(List.of("embedded"));
        assertThat(defaults.concurrencies()).containsExactly(16);
        assertThat(defaults.duration()).isEqualTo(Duration.ofSeconds(20));
        assertThat(defaults.tcJavaOpts()).isEmpty();
        assertThat(defaults.threadCounts()).isFalse();
    }

    @Test
    void aRunWhosePoolsTheServerCannotHoldIsRefusedBeforeAnythingStarts() throws Exception {
        // The machine's PostgreSQL where the tests have one, else the bench's embedded server (max_connections 300).
        List<String> args = new ArrayList<>(List.of("transfer", "--concurrency=1000", "--drivers=local-autocommit"));
        String url = System.getenv("COHORT_TEST_PG_URL");
        if (url != null) {
            args.add("--db-url=" + url);
            args.add("--db-user=" + Objects.requireNonNullElse(System.getenv("COHORT_TEST_PG_USER"), "postgres"));
            args.add("--db-password=" + Objects.requireNonNullElse(System.getenv("COHORT_TEST_PG_PASSWORD"), ""));
        }
        Outcome o = run(args.toArray(String[]::new));
        assertThat(o.exit).isEqualTo(2);
        assertThat(o.err).startsWith("cohort-bench transfer: --concurrency=1000 needs 2008 connections to ")
                .contains("raise its max_connections, lower --concurrency").doesNotContain("\tat ");
        assertThat(o.out).as("no driver measured").isEmpty();
    }

    private record Outcome(int exit, String out, String err) {
    }

    private static Outcome run(String... args) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = Bench.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Outcome(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
