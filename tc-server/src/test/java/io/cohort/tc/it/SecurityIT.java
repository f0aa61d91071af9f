package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.protocol.v1.GlobalStatusCode;
import io.cohort.protocol.v1.TransactionProtocol;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.web.servlet.mvc.method.RequestMappingInfo;
import org.springframework.web.servlet.mvc.method.RequestMappingInfoHandlerMapping;

/**
 * The attacks of issue 12 against a real TC (the whole application, real HTTP and gRPC on
 * loopback): each asserts the fixed behaviour.
 */
@ExtendWith(OutputCaptureExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SecurityIT {

    static final String CLIENT_TOKEN = "client-secret-7f3a";
    static final String ADMIN_TOKEN = "admin-secret-91c2";
    static final String RESOURCE = "jdbc:postgresql://db1/bank_a";

    @TempDir
    static Path dataDir;
    static TcTestServer tc;
    static TcClient client;

    @BeforeAll
    static void startTc() {
        tc = new TcTestServer(Map.of("cohort.tc.store.embedded.dir", dataDir.toString(),
                "cohort.tc.auth.token", CLIENT_TOKEN, "cohort.tc.auth.admin-token", ADMIN_TOKEN));
        client = new TcClient(clientConfig(CLIENT_TOKEN));
    }

    @AfterAll
    static void stopTc() {
        client.close();
        tc.close();
    }

    static TcClientConfig clientConfig(String token) {
        return new TcClientConfig(tc.grpcAddress(), "security-it", token, Duration.ofSeconds(10), 1, Duration.ofMillis(50));
    }

    String begin() {
        return client.begin("security", Duration.ofMinutes(5), TransactionProtocol.TWO_PHASE);
    }

    // ---- REST ----

    /**
     * Every handler the application maps (read from its handler mappings, so a new endpoint is
     * covered without editing this test), in every spelling that a servlet container or Spring
     * MVC may route to it, answers 401 without a token or with a wrong one. The path variables
     * name a live transaction, which must still be in BEGIN afterwards.
     */
    @Test
    void everyMappedHandlerInEveryBypassSpellingAnswers401WithoutAValidToken() {
        String xid = begin();
        List<String> failures = new ArrayList<>();
        int tried = 0;
        for (Endpoint endpoint : mappedEndpoints()) {
            if (endpoint.path().startsWith("/actuator/health")) {
                continue; // the probes are open by design, see healthIsOpenButItsDetailsNeedAToken
            }
            String path = endpoint.path().replaceAll("\\{[^}]*}", xid);
            for (String spelling : bypassSpellings(path)) {
                for (String[] headers : List.of(new String[0], new String[]{"Authorization: Bearer wrong-token"},
                        new String[]{"Authorization: Bearer " + CLIENT_TOKEN + "x"})) {
                    RawHttp.Response response = RawHttp.send(tc.httpPort(), endpoint.method(), spelling, headers);
                    tried++;
                    if (response.status() != 401) {
                        failures.add(endpoint.method() + " " + spelling + " " + List.of(headers) + " -> "
                                + response.status());
                    }
                }
            }
        }
        assertThat(tried).as("requests tried").isGreaterThan(100);
        assertThat(failures).as("requests not refused with 401").isEmpty();
        assertThat(client.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
    }

    @Test
    void healthIsOpenButItsDetailsNeedAToken() {
        for (String probe : List.of("/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness")) {
            RawHttp.Response open = RawHttp.send(tc.httpPort(), "GET", probe);
            assertThat(open.status()).as(probe).isEqualTo(200);
            assertThat(open.body()).as(probe).contains("UP").doesNotContain("store").doesNotContain("dir");
        }
        RawHttp.Response withToken = RawHttp.send(tc.httpPort(), "GET", "/actuator/health",
                "Authorization: Bearer " + CLIENT_TOKEN);
        assertThat(withToken.body()).contains("\"store\"");
    }

    @Test
    void theClientTokenReadsButOnlyTheAdminTokenChangesAndEveryChangeIsLoggedWithItsCaller(CapturedOutput output) {
        String xid = begin();
        String rollback = "/api/v1/transactions/" + xid + "/rollback";

        assertThat(RawHttp.send(tc.httpPort(), "GET", "/api/v1/transactions/" + xid,
                "Authorization: Bearer " + CLIENT_TOKEN).status()).isEqualTo(200);
        RawHttp.Response asClient = RawHttp.send(tc.httpPort(), "POST", rollback, "Authorization: Bearer " + CLIENT_TOKEN);
        assertThat(asClient.status()).isEqualTo(403);
        assertThat(asClient.body()).contains("admin token");
        assertThat(client.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);

        RawHttp.Response asAdmin = RawHttp.send(tc.httpPort(), "POST", rollback, "Authorization: Bearer " + ADMIN_TOKEN);
        assertThat(asAdmin.status()).isEqualTo(200);
        String recorded = client.status(xid).getReason();
        assertThat(recorded).contains("admin from 127.0.0.1 over REST").doesNotContain("TM");
        assertThat(output.getOut()).contains("Admin action: rollback of " + xid + " by admin from 127.0.0.1 over REST");
    }

    @Test
    void aWriteFromAPageOfAnotherOriginIsRefusedEvenWithTheAdminToken() {
        String xid = begin();
        RawHttp.Response response = RawHttp.send(tc.httpPort(), "POST", "/api/v1/transactions/" + xid + "/rollback",
                "Authorization: Bearer " + ADMIN_TOKEN, "Origin: http://evil.example");
        assertThat(response.status()).isEqualTo(403);
        assertThat(response.body()).contains("CROSS_ORIGIN_WRITE");
        assertThat(client.status(xid).getStatus()).isEqualTo(GlobalStatusCode.GLOBAL_BEGIN);
    }

    @Test
    @Order(1) // before the walk over every endpoint fills this window of the throttled refusal log
    void everyFailedAuthenticationIsLoggedWithWhatAndFromWhereButNothingForged(CapturedOutput output) {
        RawHttp.send(tc.httpPort(), "GET", "/api/v1/rms", "Authorization: Bearer nope");
        RawHttp.send(tc.httpPort(), "GET", "/api/v1/locks%0aFAKE-LINE");
        assertThat(output.getOut()).contains("Authentication failed: GET /api/v1/rms from 127.0.0.1 with a wrong");
        assertThat(output.getOut()).doesNotContain("\nFAKE-LINE");
    }

    record Endpoint(String method, String path) {
    }

    /** Every (method, path pattern) of every request-mapping handler mapping: the REST API, the actuator, /error. */
    static Set<Endpoint> mappedEndpoints() {
        Set<Endpoint> endpoints = new LinkedHashSet<>();
        for (RequestMappingInfoHandlerMapping mapping : tc.beans(RequestMappingInfoHandlerMapping.class)) {
            for (RequestMappingInfo info : mapping.getHandlerMethods().keySet()) {
                Set<String> methods = new LinkedHashSet<>();
                info.getMethodsCondition().getMethods().forEach(m -> methods.add(m.name()));
                if (methods.isEmpty()) {
                    methods.addAll(List.of("GET", "POST"));
                }
                for (String pattern : info.getPatternValues()) {
                    for (String method : methods) {
                        endpoints.add(new Endpoint(method, pattern));
                    }
                }
            }
        }
        assertThat(endpoints).as("mapped endpoints").contains(new Endpoint("POST", "/api/v1/transactions/{xid}/rollback"),
                new Endpoint("GET", "/actuator/prometheus"));
        return endpoints;
    }

    /** {@code /api/v1/x} as written, and as path parameters, percent-escapes, extra slashes, dot segments and case. */
    static List<String> bypassSpellings(String path) {
        int second = path.indexOf('/', 1);
        String first = second < 0 ? path.substring(1) : path.substring(1, second);
        String rest = second < 0 ? "" : path.substring(second);
        List<String> spellings = new ArrayList<>(List.of(
                path,
                "/" + first + ";x=1" + rest,
                "/" + escape(first.charAt(0)) + first.substring(1) + rest,
                "/" + first.substring(0, first.length() - 1) + escape(first.charAt(first.length() - 1)) + rest,
                "/" + path,
                "/" + first + "/" + rest,
                "/./" + path.substring(1),
                "/%2e/" + path.substring(1),
                "/x/..;" + path,
                "/x/../" + path.substring(1),
                "/" + first.toUpperCase(Locale.ROOT) + rest,
                "/" + Character.toUpperCase(first.charAt(0)) + first.substring(1) + rest,
                path + "/",
                path + ";jsessionid=1"));
        return spellings;
    }

    static String escape(char c) {
        return String.format("%%%02x", (int) c);
    }
}
