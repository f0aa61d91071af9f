package io.cohort.sample.bank.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.sample.bank.BankController.TransferResult;
import io.cohort.sample.bank.demo.BankClient;
import io.cohort.sample.bank.demo.BankProcess;
import io.cohort.sample.bank.it.OtlpCollector.Span;
import io.cohort.testsupport.TcProcess;
import io.cohort.testsupport.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One transfer of the demo — bank A, bank B and the TC as real processes, each exporting its spans
 * over OTLP to a collector in this test — is one trace: the TM's global transaction span in bank A
 * is the ancestor of every Cohort span in all three processes (the TC's joined through the
 * {@code traceparent} in gRPC metadata, the RMs' phase-2 spans through the commands' trace context,
 * bank B's through Boot's HTTP propagation), and every Cohort span names the XID.
 */
class TransferTraceIT {

    private static final Duration EXPORT_WAIT = Duration.ofSeconds(90);
    private static final Duration START_WAIT = Duration.ofMinutes(5);

    private static OtlpCollector collector;
    private static TcProcess tc;
    private static BankProcess bankA;
    private static BankProcess bankB;

    @BeforeAll
    static void start() throws Exception {
        collector = new OtlpCollector();
        TestPostgres pg = TestPostgres.get();
        Path work = Files.createTempDirectory("transfer-trace-it");
        List<String> tcArgs = new java.util.ArrayList<>(tracingArgs());
        tcArgs.add("--logging.level.io.cohort.tc.coordinator=DEBUG"); // lines about each transaction
        tc = TcProcess.embedded(work.resolve("tc-data"), tcArgs.toArray(String[]::new)).start();
        int portA = TcProcess.freePort();
        int portB = TcProcess.freePort();
        bankA = bank("a", portA, portB, pg.createDatabase("bank_a"), work);
        bankB = bank("b", portB, portA, pg.createDatabase("bank_b"), work);
        // As TcProcess: minutes at a load average of 40 on 2 cores; the deadline only catches a hang.
        CompletableFuture<BankProcess> b = CompletableFuture.supplyAsync(() -> bankB.start(START_WAIT));
        bankA.start(START_WAIT);
        b.join();
    }

    /** Every span sampled and exported at once (the exporter batches every 5 s by default). */
    private static List<String> tracingArgs() {
        return List.of("--management.opentelemetry.tracing.export.otlp.endpoint=" + collector.endpoint(),
                "--management.opentelemetry.tracing.export.schedule-delay=200ms",
                "--management.tracing.sampling.probability=1.0");
    }

    private static BankProcess bank(String name, int port, int peerPort, String db, Path work) {
        TestPostgres pg = TestPostgres.get();
        Map<String, String> settings = new HashMap<>();
        settings.put("spring.datasource.url", db);
        settings.put("spring.datasource.username", pg.user());
        settings.put("spring.datasource.password", pg.password());
        settings.put("spring.datasource.hikari.maximum-pool-size", "4");
        settings.put("bank.peer-url", "http://127.0.0.1:" + peerPort);
        // The first credit runs on a cold C1-only JVM: it took over the default 5 s at a load of 40. Below
        // the transfer's 30 s global timeout, so a credit that never answers still rolls back in time.
        settings.put("bank.peer-timeout", "25s");
        settings.put("cohort.tc.address", tc.grpcAddress());
        for (String arg : tracingArgs()) {
            settings.put(arg.substring(2, arg.indexOf('=')), arg.substring(arg.indexOf('=') + 1));
        }
        return new BankProcess(name, port, settings, work,
                List.of("-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
    }

    @AfterAll
    static void stop() throws Exception {
        for (AutoCloseable c : new AutoCloseable[] {bankA, bankB, tc, collector}) {
            if (c != null) {
                c.close();
            }
        }
    }

    @Test
    void oneTransferIsOneTraceAcrossBothBanksAndTheTc() throws Exception {
        BankClient client = new BankClient("A", bankA.url(), Duration.ofSeconds(60));
        TransferResult result = client.transfer(UUID.randomUUID().toString(), 1, 2, 100, false);
        assertThat(result.status()).as("transfer %s", result).isEqualTo("COMMITTED");
        String xid = result.xid();

        // Phase 2 runs after the TM is answered: wait for the RMs' command spans too.
        List<Span> spans = awaitSpans(xid, Map.of(
                "bank-a", List.of("cohort global transfer", "cohort begin", "cohort branch local commit",
                        "cohort registerBranch", "cohort commit", "cohort branch commit"),
                "bank-b", List.of("cohort branch local commit", "cohort registerBranch", "cohort branch commit"),
                "cohort-tc", List.of("cohort.tc begin", "cohort.tc registerBranch", "cohort.tc registerBranch",
                        "cohort.tc commit", "cohort.tc send commit", "cohort.tc send commit")));

        Span global = one(spans, "bank-a", "cohort global transfer");
        assertThat(global.attributes()).containsEntry("cohort.transaction.name", "transfer")
                .containsEntry("cohort.outcome", "committed");
        List<Span> trace = collector.spans().stream().filter(s -> s.traceId().equals(global.traceId())).toList();
        Map<String, Span> byId = trace.stream().collect(Collectors.toMap(Span::spanId, Function.identity(), (x, y) -> x));

        // One trace: every Cohort span of the transfer, in all three processes, is in it, below the global span.
        assertThat(spans).allSatisfy(s -> {
            assertThat(s.traceId()).as("trace of %s", s).isEqualTo(global.traceId());
            assertThat(s.attributes()).as("attributes of %s", s).containsEntry("cohort.xid", xid);
            if (s != global) {
                assertThat(ancestors(s, byId)).as("ancestors of %s in %s", s.name(), s.service())
                        .contains(global.spanId());
            }
        });
        assertThat(spans.stream().map(Span::service).collect(Collectors.toSet()))
                .isEqualTo(Set.of("bank-a", "bank-b", "cohort-tc"));

        // The TC's spans are the children of the clients' calls (traceparent in the gRPC metadata).
        Span beginCall = one(spans, "bank-a", "cohort begin");
        assertThat(beginCall.parentSpanId()).isEqualTo(global.spanId());
        assertThat(one(spans, "cohort-tc", "cohort.tc begin").parentSpanId()).isEqualTo(beginCall.spanId());
        Span commitCall = one(spans, "bank-a", "cohort commit");
        Span commitAtTc = one(spans, "cohort-tc", "cohort.tc commit");
        assertThat(commitAtTc.parentSpanId()).isEqualTo(commitCall.spanId());
        for (Span register : named(spans, "cohort-tc", "cohort.tc registerBranch")) {
            Span call = byId.get(register.parentSpanId());
            assertThat(call.name()).isEqualTo("cohort registerBranch");
            Span localCommit = byId.get(call.parentSpanId());
            assertThat(localCommit.name()).isEqualTo("cohort branch local commit");
            assertThat(localCommit.attributes()).containsKeys("cohort.resource.id", "cohort.branch.id");
        }
        // Each phase-2 command: sent under the TC's commit span, handled by the RM under the TC's send span.
        List<Span> sent = named(spans, "cohort-tc", "cohort.tc send commit");
        assertThat(sent).allSatisfy(s -> assertThat(s.parentSpanId()).isEqualTo(commitAtTc.spanId()));
        for (String bank : List.of("bank-a", "bank-b")) {
            Span handled = one(spans, bank, "cohort branch commit");
            Span send = byId.get(handled.parentSpanId());
            assertThat(send.name()).isEqualTo("cohort.tc send commit");
            assertThat(send.attributes().get("cohort.branch.id")).isEqualTo(handled.attributes().get("cohort.branch.id"));
            assertThat(handled.attributes()).containsEntry("cohort.outcome", "phase2_committed")
                    .containsEntry("cohort.resource.id", send.attributes().get("cohort.resource.id"));
            Span localCommit = one(spans, bank, "cohort branch local commit");
            assertThat(localCommit.attributes().get("cohort.branch.id"))
                    .isEqualTo(handled.attributes().get("cohort.branch.id"));
        }

        // The TC's log lines about the transfer carry its trace id and XID (MDC).
        assertThat(Files.readString(tc.log())).contains("[trace=" + global.traceId() + " xid=" + xid + "]");
    }

    private List<Span> awaitSpans(String xid, Map<String, List<String>> expected) throws InterruptedException {
        long deadline = System.nanoTime() + EXPORT_WAIT.toNanos();
        List<Span> mine;
        while (true) {
            mine = collector.spans().stream().filter(s -> xid.equals(s.attributes().get("cohort.xid"))).toList();
            if (covers(mine, expected) || System.nanoTime() > deadline) {
                break;
            }
            Thread.sleep(200);
        }
        List<Span> found = mine;
        expected.forEach((service, names) -> assertThat(found.stream().filter(s -> s.service().equals(service))
                .map(Span::name).toList()).as("spans of %s for %s (all: %s)", service, xid, found)
                .containsAll(names));
        return mine;
    }

    private static boolean covers(List<Span> spans, Map<String, List<String>> expected) {
        return expected.entrySet().stream().allMatch(e -> {
            Map<String, Long> counts = spans.stream().filter(s -> s.service().equals(e.getKey()))
                    .collect(Collectors.groupingBy(Span::name, Collectors.counting()));
            Map<String, Long> wanted = e.getValue().stream().collect(Collectors.groupingBy(n -> n, Collectors.counting()));
            return wanted.entrySet().stream().allMatch(w -> counts.getOrDefault(w.getKey(), 0L) >= w.getValue());
        });
    }

    private static List<String> ancestors(Span span, Map<String, Span> byId) {
        List<String> ids = new java.util.ArrayList<>();
        String parent = span.parentSpanId();
        while (!parent.isEmpty() && ids.size() < 64) {
            ids.add(parent);
            Span p = byId.get(parent);
            if (p == null) {
                break;
            }
            parent = p.parentSpanId();
        }
        return ids;
    }

    private static List<Span> named(List<Span> spans, String service, String name) {
        return spans.stream().filter(s -> s.service().equals(service) && s.name().equals(name)).toList();
    }

    private static Span one(List<Span> spans, String service, String name) {
        List<Span> found = named(spans, service, name);
        assertThat(found).as("%s spans named '%s'", service, name).hasSize(1);
        return found.get(0);
    }
}
