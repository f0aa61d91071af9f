package io.cohort.rm;

import io.cohort.testsupport.PackageCycles;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PackageDependenciesTest {

    /**
     * The root package is both the API the other packages use (Resource, RmConfig, BranchCoordinator,
     * GlobalLockContext, the exceptions) and the facade that builds them all (ResourceManager): the one
     * cycle left. Breaking it means moving ResourceManager or those API types to another package, a
     * change of the public API (issue 17, item 5).
     */
    private static final List<Set<String>> KNOWN_CYCLES = List.of(Set.of(PackageCycles.ROOT, "branch", "jdbc"));

    @Test
    void shouldHaveNoPackageCycleButTheKnownOnes() {
        PackageCycles.of("io.cohort.rm").assertNoCyclesBut(KNOWN_CYCLES);
    }

    @Test
    void shouldHaveNoPackageCycleBelowTheRootPackage() {
        PackageCycles.of("io.cohort.rm").without(PackageCycles.ROOT).assertNoCyclesBut(List.of());
    }
}
