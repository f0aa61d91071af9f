package io.cohort.tm;

import io.cohort.testsupport.PackageCycles;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PackageDependenciesTest {

    /** Cycles that exist today (none); a new one fails. */
    private static final List<Set<String>> KNOWN_CYCLES = List.of();

    @Test
    void shouldHaveNoPackageCycleButTheKnownOnes() {
        PackageCycles.of("io.cohort.tm").assertNoCyclesBut(KNOWN_CYCLES);
    }
}
