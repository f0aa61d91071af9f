package io.cohort.rm;

import io.cohort.testsupport.PackageCycles;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PackageDependenciesTest {

    /** Cycles that exist today; a new one, or one of these taking in another package, fails. */
    private static final List<Set<String>> KNOWN_CYCLES = List.of(
            // The JDBC proxies run executors that bind through ParamLog and reach back to Resource/RmConfig (issue 17, item 5).
            Set.of(PackageCycles.ROOT, "branch", "exec", "jdbc"),
            // TableMetaCache loads through Dialect; dialects read TableMeta.
            Set.of("dialect", "image"));

    @Test
    void shouldHaveNoPackageCycleButTheKnownOnes() {
        PackageCycles.of("io.cohort.rm").assertNoCyclesBut(KNOWN_CYCLES);
    }
}
