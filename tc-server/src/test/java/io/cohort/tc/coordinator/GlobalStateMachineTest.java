package io.cohort.tc.coordinator;

import static io.cohort.protocol.GlobalStatus.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.ErrorCode;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class GlobalStateMachineTest {

    /** The legal moves, written out again independently of the production table. */
    private static final Map<GlobalStatus, Set<GlobalStatus>> LEGAL = Map.ofEntries(
            Map.entry(BEGIN, EnumSet.of(ASYNC_COMMITTING, COMMITTING, PRE_COMMITTING, ROLLBACKING, TIMEOUT_ROLLBACKING)),
            Map.entry(PRE_COMMITTING, EnumSet.of(PRE_COMMITTED, ROLLBACKING)),
            Map.entry(PRE_COMMITTED, EnumSet.of(COMMITTING, COMMIT_FAILED)),
            Map.entry(COMMITTING, EnumSet.of(COMMITTED, COMMIT_RETRYING, COMMIT_FAILED)),
            Map.entry(ASYNC_COMMITTING, EnumSet.of(COMMITTED, COMMIT_RETRYING, COMMIT_FAILED)),
            Map.entry(COMMIT_RETRYING, EnumSet.of(COMMITTED, COMMIT_FAILED)),
            Map.entry(COMMIT_FAILED, EnumSet.of(COMMIT_RETRYING)),
            Map.entry(ROLLBACKING, EnumSet.of(ROLLBACKED, ROLLBACK_RETRYING, ROLLBACK_FAILED)),
            Map.entry(ROLLBACK_RETRYING, EnumSet.of(ROLLBACKED, ROLLBACK_FAILED)),
            Map.entry(TIMEOUT_ROLLBACKING, EnumSet.of(TIMEOUT_ROLLBACKED, TIMEOUT_ROLLBACK_RETRYING, ROLLBACK_FAILED)),
            Map.entry(TIMEOUT_ROLLBACK_RETRYING, EnumSet.of(TIMEOUT_ROLLBACKED, ROLLBACK_FAILED)),
            Map.entry(ROLLBACK_FAILED, EnumSet.of(ROLLBACK_RETRYING)),
            Map.entry(COMMITTED, EnumSet.noneOf(GlobalStatus.class)),
            Map.entry(ROLLBACKED, EnumSet.noneOf(GlobalStatus.class)),
            Map.entry(TIMEOUT_ROLLBACKED, EnumSet.noneOf(GlobalStatus.class)));

    @Test
    void everyPairOfStatusesIsLegalExactlyWhenTheTableSaysSo() {
        assertThat(LEGAL.keySet()).containsExactlyInAnyOrder(GlobalStatus.values());
        for (GlobalStatus from : GlobalStatus.values()) {
            for (GlobalStatus to : GlobalStatus.values()) {
                boolean legal = LEGAL.get(from).contains(to);
                assertThat(GlobalStateMachine.canMove(from, to)).as("%s -> %s", from, to).isEqualTo(legal);
                if (legal) {
                    GlobalStateMachine.checkMove("x:1:1", from, to);
                } else {
                    assertThatThrownBy(() -> GlobalStateMachine.checkMove("x:1:1", from, to))
                            .isInstanceOf(CoordinatorException.class)
                            .hasMessageContaining("cannot go from " + from + " to " + to)
                            .satisfies(e -> assertThat(((CoordinatorException) e).errorCode())
                                    .isEqualTo(ErrorCode.ILLEGAL_TRANSITION));
                }
            }
        }
    }

    @Test
    void finalStatusesHaveNoWayOut() {
        for (GlobalStatus s : GlobalStatus.values()) {
            if (s.isFinal()) {
                assertThat(LEGAL.get(s)).as("%s", s).isEmpty();
            }
        }
    }

    @Test
    void drivingStatusesKnowTheirRetryDoneAndFailedStatuses() {
        assertThat(GlobalStateMachine.retryingOf(ASYNC_COMMITTING)).isEqualTo(COMMIT_RETRYING);
        assertThat(GlobalStateMachine.retryingOf(ROLLBACKING)).isEqualTo(ROLLBACK_RETRYING);
        assertThat(GlobalStateMachine.retryingOf(TIMEOUT_ROLLBACKING)).isEqualTo(TIMEOUT_ROLLBACK_RETRYING);
        assertThat(GlobalStateMachine.doneOf(COMMIT_RETRYING)).isEqualTo(COMMITTED);
        assertThat(GlobalStateMachine.doneOf(TIMEOUT_ROLLBACK_RETRYING)).isEqualTo(TIMEOUT_ROLLBACKED);
        assertThat(GlobalStateMachine.failedOf(ASYNC_COMMITTING)).isEqualTo(COMMIT_FAILED);
        assertThat(GlobalStateMachine.failedOf(TIMEOUT_ROLLBACKING)).isEqualTo(ROLLBACK_FAILED);
        for (GlobalStatus s : EnumSet.of(COMMITTING, ASYNC_COMMITTING, COMMIT_RETRYING, ROLLBACKING, ROLLBACK_RETRYING,
                TIMEOUT_ROLLBACKING, TIMEOUT_ROLLBACK_RETRYING)) {
            assertThat(GlobalStateMachine.canMove(s, GlobalStateMachine.doneOf(s))).as("%s done", s).isTrue();
            assertThat(GlobalStateMachine.canMove(s, GlobalStateMachine.failedOf(s))).as("%s failed", s).isTrue();
            GlobalStatus retrying = GlobalStateMachine.retryingOf(s);
            assertThat(retrying == s || GlobalStateMachine.canMove(s, retrying)).as("%s retry", s).isTrue();
        }
    }
}
