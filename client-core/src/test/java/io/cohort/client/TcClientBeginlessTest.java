package io.cohort.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.protocol.Xid;
import io.cohort.protocol.v1.TransactionCreation;
import io.cohort.protocol.v1.TransactionProtocol;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Whether the client makes XIDs itself: only once its TC said (in a Begin answer) that it speaks minor 8. */
class TcClientBeginlessTest {

    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    @Test
    void aClientOfAnOlderTcKeepsCallingBegin() {
        try (TestTcServer tc = TestTcServer.start(); TcClient client = client(tc)) {
            assertThat(client.beginLocally("t", Duration.ofSeconds(5), TransactionProtocol.TWO_PHASE))
                    .as("before any Begin answer").isNull();
            client.begin("t", Duration.ofSeconds(5), TransactionProtocol.TWO_PHASE);
            assertThat(client.beginLocally("t", Duration.ofSeconds(5), TransactionProtocol.TWO_PHASE))
                    .as("the TC answered without a protocol minor: it cannot create a TM-made XID").isNull();
        }
    }

    @Test
    void aClientOfAMinor8TcMakesXidsWithTheTcsAddressAndCarriesHowToCreateThem() throws Exception {
        try (TestTcServer tc = TestTcServer.start(); TcClient client = client(tc)) {
            tc.speakMinor(8);
            client.begin("first", Duration.ofSeconds(5), TransactionProtocol.TWO_PHASE);

            String xid = client.beginLocally("transfer", Duration.ofSeconds(5), TransactionProtocol.THREE_PHASE);
            Xid parsed = Xid.parse(xid);
            assertThat(parsed.tmMade()).isTrue();
            assertThat(parsed.tcAddress()).isEqualTo(tc.address());
            String next = client.beginLocally("transfer", Duration.ofSeconds(5), TransactionProtocol.TWO_PHASE);
            assertThat(next).isNotEqualTo(xid);
            TmMadeXids.forget(next);

            long before = System.nanoTime();
            while (System.nanoTime() - before < 2_000_000) {
                Thread.onSpinWait(); // let at least a millisecond pass on the monotonic clock
            }
            TransactionCreation creation = TmMadeXids.creationFor(xid);
            assertThat(creation.getName()).isEqualTo("transfer");
            assertThat(creation.getApplicationId()).isEqualTo("beginless-test");
            assertThat(creation.getTimeoutMs()).isEqualTo(5000);
            assertThat(creation.getProtocol()).isEqualTo(TransactionProtocol.THREE_PHASE);
            assertThat(creation.getElapsedMs()).isPositive();

            TmMadeXids.announced(xid);
            assertThat(TmMadeXids.creationFor(xid)).as("the TC knows it once it answered a call for it").isNull();
            TmMadeXids.forget(xid);
            assertThat(TmMadeXids.creationFor(xid)).isNull();
        }
    }

    private static TcClient client(TestTcServer tc) {
        return new TcClient(new TcClientConfig(tc.address(), "beginless-test", "", CALL_TIMEOUT, 1,
                Duration.ofMillis(5)));
    }
}
