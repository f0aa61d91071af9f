package io.cohort.tc.support;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AfterCompletionsTest {

    @Test
    void deferredActionsRunAfterTheBatchInOrderOnceEvenIfOneFailsOrDefersMore() {
        List<String> ran = new ArrayList<>();
        AfterCompletions.run(() -> {
            assertThat(AfterCompletions.defer(() -> ran.add("first"))).isTrue();
            AfterCompletions.defer(() -> {
                throw new IllegalStateException("a send that failed");
            });
            AfterCompletions.run(() -> AfterCompletions.defer(() -> {
                ran.add("nested");
                AfterCompletions.defer(() -> ran.add("deferred by a deferred one"));
            }));
            ran.add("completions");
        });
        assertThat(ran).containsExactly("completions", "first", "nested", "deferred by a deferred one");
    }

    @Test
    void outsideABatchNothingIsDeferred() {
        List<String> ran = new ArrayList<>();
        assertThat(AfterCompletions.defer(() -> ran.add("never"))).isFalse();
        AfterCompletions.run(() -> { });
        assertThat(AfterCompletions.defer(() -> ran.add("never"))).isFalse();
        assertThat(ran).isEmpty();
    }

    @Test
    void itemsCollectedPerSinkAreFlushedOnceAtTheBatchsEndAndLateOnesInASecondFlush() {
        Object streamA = new Object();
        Object streamB = new Object();
        List<String> flushed = new ArrayList<>();
        AfterCompletions.run(() -> {
            assertThat(AfterCompletions.collect(streamA, "a1", items -> flushed.add("A" + items))).isTrue();
            AfterCompletions.collect(streamB, "b1", items -> flushed.add("B" + items));
            AfterCompletions.collect(streamA, "a2", items -> flushed.add("never: the first item's flush runs"));
            // An action deferred after the first items collects again: its item goes in a flush of its own.
            AfterCompletions.defer(() -> AfterCompletions.collect(streamA, "a3", items -> flushed.add("A" + items)));
            flushed.add("completions");
        });
        assertThat(flushed).containsExactly("completions", "A[a1, a2]", "B[b1]", "A[a3]");
        assertThat(AfterCompletions.collect(streamA, "outside", items -> flushed.add("never"))).isFalse();
    }
}
