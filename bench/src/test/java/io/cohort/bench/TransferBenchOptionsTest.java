package io.cohort.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.bench.TransferBench.Options;
import io.cohort.rm.UndoLogFormat;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class TransferBenchOptionsTest {

    @Test
    void defaultsMeasureBothFloorsAndCohortAfterAMinuteOfWarmUp() {
        Options o = Options.parse();
        assertThat(o.drivers()).containsExactly("local-autocommit", "local-tx", "cohort");
        assertThat(o.warmup()).isEqualTo(Duration.ofSeconds(60));
        assertThat(o.duration()).isEqualTo(Duration.ofSeconds(30));
        assertThat(o.concurrency()).isEqualTo(16);
        assertThat(o.accounts()).isEqualTo(1000);
        assertThat(o.hotspot()).isFalse();
        assertThat(o.dbUrl()).isNull();
        assertThat(o.dbUser()).isEqualTo("postgres");
        assertThat(o.tcArgs()).isEmpty();
        assertThat(TransferBench.FLOORS).containsExactly("local-autocommit", "local-tx");
    }

    @Test
    void everySettingIsRead() {
        Options o = Options.parse("--drivers=cohort,local-autocommit,cohort-3pc,cohort-autocommit", "--accounts=50", "--concurrency=64",
                "--duration=1m30s", "--warmup=500ms", "--distribution=hotspot",
                "--db-url=jdbc:postgresql://127.0.0.1:5432/postgres", "--db-user=bench", "--db-password=pw",
                "--tc-jar=/x/tc.jar", "--tc-java-opts=-Xmx256m  -XX:+UseSerialGC",
                "--tc-args=--cohort.tc.lock-wait.max-waiters=0", "--tc-store=postgres", "--key-pinned=off",
                "--undo-log-format=binary");
        assertThat(o.drivers()).containsExactly("cohort", "local-autocommit", "cohort-3pc", "cohort-autocommit");
        assertThat(o.keyPinned()).isFalse();
        assertThat(Options.parse().keyPinned()).isTrue();
        assertThat(o.undoLogFormat()).isEqualTo(UndoLogFormat.BINARY);
        assertThat(Options.parse().undoLogFormat()).isEqualTo(UndoLogFormat.JSON);
        assertThat(o.accounts()).isEqualTo(50);
        assertThat(o.concurrency()).isEqualTo(64);
        assertThat(o.duration()).isEqualTo(Duration.ofSeconds(90));
        assertThat(o.warmup()).isEqualTo(Duration.ofMillis(500));
        assertThat(o.hotspot()).isTrue();
        assertThat(o.dbUrl()).isEqualTo("jdbc:postgresql://127.0.0.1:5432/postgres");
        assertThat(o.dbUser()).isEqualTo("bench");
        assertThat(o.dbPassword()).isEqualTo("pw");
        assertThat(o.tcJar()).isEqualTo("/x/tc.jar");
        assertThat(o.tcJavaOpts()).containsExactly("-Xmx256m", "-XX:+UseSerialGC");
        assertThat(o.tcArgs()).containsExactly("--cohort.tc.lock-wait.max-waiters=0");
        assertThat(o.tcStore()).isEqualTo("postgres");
        assertThat(Options.parse().tcStore()).isEqualTo("embedded");
    }

    @Test
    void aMariaDbServerIsNamedByItsUrlAndItsUserDefaultsToRoot() {
        Options o = Options.parse("--db-url=jdbc:mariadb://127.0.0.1:3306/", "--drivers=local-autocommit,local-tx,"
                + "cohort,cohort-3pc");
        assertThat(o.dbUrl()).isEqualTo("jdbc:mariadb://127.0.0.1:3306/");
        assertThat(o.dbUser()).isEqualTo("root");
        assertThat(o.dbPassword()).isEmpty();
        assertThat(o.drivers()).containsExactly("local-autocommit", "local-tx", "cohort", "cohort-3pc");
        assertThat(Options.parse("--db-url=jdbc:mariadb://db:3306/x", "--db-user=bench").dbUser()).isEqualTo("bench");
    }

    @Test
    void theOldPostgresOptionNamesStillWork() {
        Options o = Options.parse("--pg-url=jdbc:postgresql://h:5432/postgres", "--pg-user=u", "--pg-password=p");
        assertThat(o.dbUrl()).isEqualTo("jdbc:postgresql://h:5432/postgres");
        assertThat(o.dbUser()).isEqualTo("u");
        assertThat(o.dbPassword()).isEqualTo("p");
        assertRefused(List.of("--pg-url=jdbc:postgresql://h:5432/a", "--db-url=jdbc:postgresql://h:5432/b"),
                "--db-url is given twice");
    }

    @Test
    void theOldLocalDriverNameIsTheExplicitTransactionFloor() {
        assertThat(Options.parse("--drivers=local,cohort").drivers()).containsExactly("local-tx", "cohort");
        assertThat(Options.parse("--warmup=0s").warmup()).isZero();
    }

    @Test
    void mistakesStopTheRunSayingWhatIsAccepted() {
        assertRefused(List.of("--concurency=16"), "Unknown argument '--concurency=16'", "concurrency");
        assertRefused(List.of("concurrency=16"), "Unknown argument", "--name=value");
        assertRefused(List.of("--concurrency"), "Unknown argument", "--name=value");
        assertRefused(List.of("--drivers=local,seata"), "Unknown driver 'seata'", "local-autocommit, local-tx");
        assertRefused(List.of("--drivers=local,local-tx"), "local-tx is listed twice");
        assertRefused(List.of("--concurrency=0"), "--concurrency must be a whole number of at least 1", "'0'");
        assertRefused(List.of("--accounts=many"), "--accounts must be a whole number", "'many'");
        assertRefused(List.of("--duration=0s"), "--duration must be positive");
        assertRefused(List.of("--warmup=-5s"), "--warmup must be 0s or more");
        assertRefused(List.of("--warmup=soon"), "--warmup must be a duration such as 30s", "'soon'");
        assertRefused(List.of("--distribution=zipf"), "--distribution must be uniform or hotspot, was zipf");
        assertRefused(List.of("--key-pinned=yes"), "--key-pinned must be on or off, was yes");
        assertRefused(List.of("--undo-log-format=xml"), "--undo-log-format must be json or binary, was xml");
        assertRefused(List.of("--tc-store=redis"), "--tc-store must be embedded or postgres, was redis");
        assertRefused(List.of("--db-url=postgres://h/db"), "--db-url must look like jdbc:postgresql://",
                "jdbc:mariadb://host:3306/");
        assertRefused(List.of("--db-url=jdbc:mysql://h:3306/"), "--db-url must look like", "was jdbc:mysql://h:3306/");
        assertRefused(List.of("--db-url=jdbc:mariadb://h:3306/", "--tc-store=postgres"),
                "--tc-store=postgres needs a PostgreSQL server", "--tc-store=embedded");
        assertRefused(List.of("--duration=10s", "--duration=20s"), "--duration is given twice");
    }

    private static void assertRefused(List<String> args, String... fragments) {
        assertThatThrownBy(() -> Options.parse(args.toArray(String[]::new)))
                .isInstanceOf(IllegalArgumentException.class)
                .satisfies(e -> assertThat(e.getMessage()).contains(fragments));
    }
}
