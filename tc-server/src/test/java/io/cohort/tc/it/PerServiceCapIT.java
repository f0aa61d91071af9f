package io.cohort.tc.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.cohort.client.TcClient;
import io.cohort.client.TcClientConfig;
import io.cohort.client.TcException;
import io.cohort.protocol.v1.ErrorCode;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.testsupport.TcProcess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cohort.tc.limits.max-active-per-application} with per-service identities, on a real TC
 * process: a service is counted by the identity its token proves, not by the application id it
 * claims, so claiming another id does not get it past its cap; another service keeps its own
 * allowance, and a caller with the shared token is still counted by the id it sends. A service
 * also cannot learn another service's XIDs from the holders of its locks.
 */
class PerServiceCapIT {

    static final String SHARED_TOKEN = "shared-secret-5c2e";
    static final String A_TOKEN = "svc-a-secret-1f9d";
    static final String B_TOKEN = "svc-b-secret-7e41";
    static final int CAP = 3;

    @Test
    void aServiceCannotEscapeItsCapByClaimingAnotherApplicationId(@TempDir Path dir) {
        try (TcProcess tc = TcProcess.embedded(dir.resolve("data"), "--cohort.tc.default-timeout=10m",
                "--cohort.tc.limits.max-active-per-application=" + CAP,
                "--cohort.tc.auth.token=" + SHARED_TOKEN,
                "--cohort.tc.auth.clients.svc-a.token=" + A_TOKEN,
                "--cohort.tc.auth.clients.svc-a.resources=jdbc:postgresql://db1/*",
                "--cohort.tc.auth.clients.svc-b.token=" + B_TOKEN,
                "--cohort.tc.auth.clients.svc-b.resources=jdbc:postgresql://db2/*").start();
             TcClient a = client(tc, "svc-a", A_TOKEN);
             TcClient aClaimingOther = client(tc, "svc-a-claims-to-be-someone-else", A_TOKEN);
             TcClient aClaimingB = client(tc, "svc-b", A_TOKEN);
             TcClient b = client(tc, "svc-b", B_TOKEN);
             TcClient shared = client(tc, "shared-app", SHARED_TOKEN)) {

            for (int i = 0; i < CAP; i++) {
                a.begin("a", Duration.ZERO, TransactionProtocol.TWO_PHASE);
            }
            for (TcClient escaping : new TcClient[]{a, aClaimingOther, aClaimingB}) {
                TcException refused = catchThrowableOfType(() -> escaping.begin("escape", Duration.ZERO,
                        TransactionProtocol.TWO_PHASE), TcException.class);
                assertThat(refused).as("a begin of svc-a past its cap, whatever application id it claims").isNotNull();
                assertThat(refused.errorCode()).isEqualTo(ErrorCode.TOO_MANY_TRANSACTIONS);
                assertThat(refused.getMessage()).contains("'svc-a'").contains("max-active-per-application = " + CAP);
            }

            b.begin("b", Duration.ZERO, TransactionProtocol.TWO_PHASE);
            String body = RawHttp.send(tc.httpPort(), "GET", "/api/v1/transactions?applicationId=svc-b&size=10",
                    "Authorization: Bearer " + SHARED_TOKEN).body();
            assertThat(body).as("svc-a's claim of svc-b was not counted against svc-b").contains("\"total\":1");

            assertThat(RawHttp.send(tc.httpPort(), "GET", "/api/v1/transactions?applicationId=svc-a&size=10",
                    "Authorization: Bearer " + SHARED_TOKEN).body()).contains("\"total\":" + CAP);

            // A lock conflict names its holder's XID: svc-a may not query the locks of svc-b's databases.
            String bankB = "jdbc:postgresql://db2/bank_b";
            try (TestRm rmB = new TestRm(config(tc, "svc-b", B_TOKEN), "rm-b", List.of(bankB))) {
                String xidOfB = b.begin("b-locks", Duration.ZERO, TransactionProtocol.TWO_PHASE);
                b.registerBranch(xidOfB, bankB, List.of("account:1"), new byte[0], "rm-b");
                TcException denied = catchThrowableOfType(() -> a.queryLocks(bankB, List.of("account:1"), ""),
                        TcException.class);
                assertThat(denied).as("svc-a querying svc-b's locks").isNotNull();
                assertThat(denied.errorCode()).isEqualTo(ErrorCode.PERMISSION_DENIED);
                assertThat(denied.getMessage()).doesNotContain(xidOfB);
                assertThat(b.queryLocks(bankB, List.of("account:1"), "").getConflict().getHolderXid()).isEqualTo(xidOfB);
            }

            for (int i = 0; i < CAP; i++) {
                shared.begin("shared", Duration.ZERO, TransactionProtocol.TWO_PHASE);
            }
            assertThat(RawHttp.send(tc.httpPort(), "GET", "/api/v1/transactions?applicationId=shared-app&size=10",
                    "Authorization: Bearer " + SHARED_TOKEN).body()).contains("\"total\":" + CAP);
        }
    }

    private static TcClient client(TcProcess tc, String applicationId, String token) {
        return new TcClient(config(tc, applicationId, token));
    }

    private static TcClientConfig config(TcProcess tc, String applicationId, String token) {
        return new TcClientConfig(tc.grpcAddress(), applicationId, token, Duration.ofSeconds(30), 1, Duration.ofMillis(10));
    }
}
