package io.cohort.rm;

import io.cohort.testsupport.PackageCycles;
import java.util.List;
import org.junit.jupiter.api.Test;

class PackageDependenciesTest {

    /**
     * Every package of the RM, the root one included: the root holds the API that user code and the
     * internals both name (RmConfig, BranchCoordinator, the exceptions, GlobalLockContext) and depends on
     * no other package of the RM; what wires the internals together (ResourceManager) sits on top of them.
     */
    @Test
    void shouldHaveNoPackageCycle() {
        PackageCycles.of("io.cohort.rm").assertNoCyclesBut(List.of());
    }
}
