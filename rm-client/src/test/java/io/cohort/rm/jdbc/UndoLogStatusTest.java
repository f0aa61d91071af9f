package io.cohort.rm.jdbc;

import static io.cohort.rm.jdbc.UndoLogStatus.COMMITTED_ALONE;
import static io.cohort.rm.jdbc.UndoLogStatus.PRE_COMMITTED;
import static io.cohort.rm.jdbc.UndoLogStatus.ROLLBACK_MARKER;
import static io.cohort.rm.jdbc.UndoLogStatus.ROLLED_BACK_ALONE;
import static io.cohort.rm.jdbc.UndoLogStatus.THREE_PHASE;
import static io.cohort.rm.jdbc.UndoLogStatus.TWO_PHASE;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class UndoLogStatusTest {

    @Test
    void codesAreTheNumbersStoredInUsersDatabases() {
        // Rows written by every earlier release carry these numbers: a change here corrupts them.
        assertThat(TWO_PHASE.code()).isZero();
        assertThat(ROLLBACK_MARKER.code()).isEqualTo(1);
        assertThat(THREE_PHASE.code()).isEqualTo(2);
        assertThat(PRE_COMMITTED.code()).isEqualTo(3);
        assertThat(ROLLED_BACK_ALONE.code()).isEqualTo(4);
        assertThat(COMMITTED_ALONE.code()).isEqualTo(5);
        for (UndoLogStatus s : UndoLogStatus.values()) {
            assertThat(UndoLogStatus.ofCode(s.code())).isSameAs(s);
        }
    }

    @Test
    void aNumberNoReleaseWritesIsNoStatus() {
        assertThat(UndoLogStatus.ofCode(-1)).isNull();
        assertThat(UndoLogStatus.ofCode(6)).isNull();
        assertThat(UndoLogStatus.ofCode(Integer.MAX_VALUE)).isNull();
    }

    @Test
    void aThreePhaseBranchMovesForwardOnlyThroughPreCommitOrItsOwnRollback() {
        assertThat(TWO_PHASE.next()).containsExactlyInAnyOrder(THREE_PHASE, PRE_COMMITTED);
        assertThat(THREE_PHASE.next()).containsExactlyInAnyOrder(PRE_COMMITTED, ROLLED_BACK_ALONE);
        assertThat(PRE_COMMITTED.next()).containsExactly(COMMITTED_ALONE);
        assertThat(ROLLED_BACK_ALONE.next()).containsExactly(ROLLBACK_MARKER);
        assertThat(ROLLBACK_MARKER.next()).isEmpty();
        assertThat(COMMITTED_ALONE.next()).isEmpty();
    }

    @Test
    void noMoveGoesBackOrUndoesADecision() {
        // A pre-committed branch must never be rolled back alone, nor a decision taken alone be reversed.
        assertThat(PRE_COMMITTED.mayMoveTo(ROLLED_BACK_ALONE)).isFalse();
        assertThat(PRE_COMMITTED.mayMoveTo(THREE_PHASE)).isFalse();
        assertThat(COMMITTED_ALONE.mayMoveTo(ROLLBACK_MARKER)).isFalse();
        assertThat(ROLLED_BACK_ALONE.mayMoveTo(PRE_COMMITTED)).isFalse();
        assertThat(ROLLBACK_MARKER.mayMoveTo(TWO_PHASE)).isFalse();
        assertThat(TWO_PHASE.mayMoveTo(ROLLED_BACK_ALONE)).as("two-phase branches are never finished alone").isFalse();
        for (UndoLogStatus s : UndoLogStatus.values()) {
            assertThat(s.mayMoveTo(s)).as("staying put only stamps updated: %s", s).isTrue();
            Set<UndoLogStatus> others = EnumSet.complementOf(EnumSet.of(s));
            others.removeAll(s.next());
            for (UndoLogStatus o : others) {
                assertThat(s.mayMoveTo(o)).as("%s -> %s", s, o).isFalse();
            }
        }
    }

    @Test
    void onlyRowsOfUnfinishedBranchesHoldImages() {
        assertThat(EnumSet.allOf(UndoLogStatus.class).stream().filter(UndoLogStatus::holdsImages))
                .containsExactlyInAnyOrder(TWO_PHASE, THREE_PHASE, PRE_COMMITTED);
        assertThat(EnumSet.allOf(UndoLogStatus.class).stream().filter(UndoLogStatus::decidedAlone))
                .containsExactlyInAnyOrder(ROLLED_BACK_ALONE, COMMITTED_ALONE);
    }
}
