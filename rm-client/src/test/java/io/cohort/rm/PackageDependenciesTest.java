package io.cohort.rm;

import com.tngtech.archunit.core.domain.Dependency;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import io.cohort.testsupport.PackageCycles;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The RM's three packages: the root holds the API that user code and the engine both name (RmConfig,
 * BranchCoordinator, the exceptions, GlobalLockContext) and depends on no other package of the RM;
 * {@code jdbc} is the AT-mode engine, package-private but for {@link #JDBC_ENTRY_POINTS}; and
 * {@code autoconfigure} wires the engine into Spring Boot through those entry points only.
 */
class PackageDependenciesTest {

    private static final String JDBC = "io.cohort.rm.jdbc";

    /** What code outside {@code io.cohort.rm.jdbc} may name in it (PublicTypesTest pins them as API). */
    private static final Set<String> JDBC_ENTRY_POINTS = Set.of(
            JDBC + ".DataSourceProxy", JDBC + ".ResourceManager", JDBC + ".ResourceManager$Builder");

    @Test
    void shouldHaveNoPackageCycle() {
        PackageCycles.of("io.cohort.rm").assertNoCyclesBut(List.of());
    }

    @Test
    void shouldReachTheEngineOnlyThroughDataSourceProxyAndResourceManager() {
        Set<String> violations = new TreeSet<>();
        for (JavaClass c : new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.cohort.rm")) {
            String from = c.getPackageName();
            if (from.equals(JDBC) || from.startsWith(JDBC + ".")) {
                continue;
            }
            for (Dependency d : c.getDirectDependenciesFromSelf()) {
                JavaClass target = d.getTargetClass().getBaseComponentType();
                String to = target.getPackageName();
                boolean intoEngine = to.equals(JDBC) || to.startsWith(JDBC + ".");
                if (intoEngine && (from.equals("io.cohort.rm") || !JDBC_ENTRY_POINTS.contains(target.getName()))) {
                    violations.add(d.getDescription());
                }
            }
        }
        if (!violations.isEmpty()) {
            throw new AssertionError("Code outside " + JDBC + " reaches into the engine: " + String.join("; ", violations)
                    + ". The root package depends on no other package of the RM; autoconfigure may use only "
                    + JDBC_ENTRY_POINTS + ": give DataSourceProxy or ResourceManager a method for what it needs.");
        }
    }
}
