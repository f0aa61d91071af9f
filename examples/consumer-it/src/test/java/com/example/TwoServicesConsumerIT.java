package com.example;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.inventory.InventoryApplication;
import com.example.orders.OrdersApplication;
import io.cohort.testsupport.TestPostgres;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * Two services built only from cohort-spring-boot-starter and README.md's recipe, each with its own
 * PostgreSQL database (from cohort-test-support: COHORT_TEST_PG_URL, else Docker, else embedded
 * binaries, like the main build's tests), coordinated by the real TC as a child process: an order
 * commits in both databases, and a failure in either service leaves neither database changed.
 */
class TwoServicesConsumerIT {

    /** The orders service's @GlobalTransactional timeout: phase 2 finishes well within it. */
    private static final Duration PHASE2_DEADLINE = Duration.ofSeconds(30);

    private static final HttpClient http = HttpClient.newHttpClient();
    private static Process tc;
    private static ConfigurableApplicationContext inventory;
    private static ConfigurableApplicationContext orders;
    private static String ordersUrl;

    @BeforeAll
    static void start() throws Exception {
        int grpcPort = freePort();
        Path work = Files.createTempDirectory("cohort-consumer-it");
        Path jar = Path.of(System.getProperty("tc.jar", "target/tc/tc-server.jar"));
        tc = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "-jar", jar.toString(), "--cohort.tc.grpc-port=" + grpcPort, "--server.port=" + freePort(),
                "--cohort.tc.store.embedded.dir=" + work.resolve("tc-data"))
                .redirectErrorStream(true).redirectOutput(work.resolve("tc.log").toFile()).start();
        awaitListening(grpcPort, work.resolve("tc.log"));

        inventory = boot(InventoryApplication.class, "inventory", grpcPort, Map.of());
        orders = boot(OrdersApplication.class, "orders", grpcPort,
                Map.of("inventory.url", "http://127.0.0.1:" + port(inventory)));
        ordersUrl = "http://127.0.0.1:" + port(orders);
    }

    /** The service with its profile's application yaml, on a fresh database and free ports. */
    private static ConfigurableApplicationContext boot(Class<?> app, String profile, int tcPort, Map<String, Object> extra)
            throws Exception {
        Map<String, Object> properties = new java.util.HashMap<>(Map.of(
                "spring.datasource.url", createDatabase(profile),
                "spring.datasource.username", TestPostgres.get().user(),
                "spring.datasource.password", TestPostgres.get().password(),
                "cohort.tc.address", "127.0.0.1:" + tcPort,
                "server.port", 0));
        properties.putAll(extra);
        // As command-line arguments, which win over the profile's yaml (default properties would not).
        String[] args = properties.entrySet().stream().map(e -> "--" + e.getKey() + "=" + e.getValue()).toArray(String[]::new);
        return new SpringApplicationBuilder(app).profiles(profile).run(args);
    }

    @AfterAll
    static void stop() throws Exception {
        for (ConfigurableApplicationContext context : new ConfigurableApplicationContext[] {orders, inventory}) {
            if (context != null) {
                context.close();
            }
        }
        if (tc != null) {
            tc.destroy();
            tc.waitFor();
        }
    }

    @Test
    void anOrderCommitsInBothDatabases() throws Exception {
        String item = stock(10);

        HttpResponse<String> answer = order(item, 3, false);

        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
        assertThat(ordersOf(item)).isEqualTo(1);
        assertThat(stockOf(item)).isEqualTo(7);
        awaitTrue("undo logs of committed branches deleted", () -> undoLogs(orders) == 0 && undoLogs(inventory) == 0);
    }

    @Test
    void aFailureInTheCalleeLeavesNeitherDatabaseChanged() throws Exception {
        String item = stock(2);

        HttpResponse<String> answer = order(item, 5, false);

        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(500);
        awaitTrue("the order undone", () -> ordersOf(item) == 0);
        assertThat(stockOf(item)).isEqualTo(2);
    }

    @Test
    void aFailureInTheCallerUndoesTheCalleesCommittedWrite() throws Exception {
        String item = stock(10);

        HttpResponse<String> answer = order(item, 4, true);

        assertThat(answer.statusCode()).as(answer.body()).isEqualTo(500);
        awaitTrue("the reservation undone in the inventory database", () -> stockOf(item) == 10);
        awaitTrue("the order undone in the orders database", () -> ordersOf(item) == 0);
    }

    private static String stock(int quantity) {
        String item = "item-" + UUID.randomUUID();
        jdbc(inventory).update("insert into stock(item, quantity) values (?, ?)", item, quantity);
        return item;
    }

    private static HttpResponse<String> order(String item, int quantity, boolean failAfterReserve) throws Exception {
        String body = "{\"item\":\"" + item + "\",\"quantity\":" + quantity
                + (failAfterReserve ? ",\"failAfterReserve\":true" : "") + "}";
        return http.send(HttpRequest.newBuilder(URI.create(ordersUrl + "/orders"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static int ordersOf(String item) {
        return jdbc(orders).queryForObject("select count(*) from purchase_order where item = ?", Integer.class, item);
    }

    private static int stockOf(String item) {
        return jdbc(inventory).queryForObject("select quantity from stock where item = ?", Integer.class, item);
    }

    private static int undoLogs(ConfigurableApplicationContext service) {
        return jdbc(service).queryForObject("select count(*) from undo_log where log_status = 0", Integer.class);
    }

    private static JdbcTemplate jdbc(ConfigurableApplicationContext service) {
        return service.getBean(JdbcTemplate.class);
    }

    private static void awaitTrue(String what, Supplier<Boolean> condition) throws InterruptedException {
        long deadline = System.nanoTime() + PHASE2_DEADLINE.toNanos();
        while (!condition.get()) {
            assertThat(System.nanoTime()).as(what + " within " + PHASE2_DEADLINE).isLessThan(deadline);
            Thread.sleep(50);
        }
    }

    private static String createDatabase(String service) {
        return TestPostgres.get().createDatabase("consumer_" + service);
    }

    private static int port(ConfigurableApplicationContext service) {
        return Integer.parseInt(service.getEnvironment().getProperty("local.server.port"));
    }

    /**
     * The jar started as users start it ({@code java -jar}, nested jars, C2) took 105-180 s to listen on
     * the 2-core machine at a load average of 30 (TcLaunch in cohort-test-support): only a TC that hangs
     * should fail this wait; one that exits is seen at once.
     */
    private static final Duration TC_START_WAIT = Duration.ofMinutes(5);

    private static void awaitListening(int port, Path log) throws InterruptedException {
        long deadline = System.nanoTime() + TC_START_WAIT.toNanos();
        while (true) {
            try (Socket socket = new Socket("127.0.0.1", port)) {
                return;
            } catch (IOException notYet) {
                if (!tc.isAlive()) {
                    throw new IllegalStateException("The TC exited with " + tc.exitValue() + "; see " + log);
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("The TC did not listen on " + port + " within " + TC_START_WAIT.toSeconds()
                            + " s; see " + log);
                }
                Thread.sleep(50);
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
