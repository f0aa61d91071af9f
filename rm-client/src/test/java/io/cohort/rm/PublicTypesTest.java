package io.cohort.rm;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaModifier;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Pins the public types of rm-client (names relative to io.cohort.rm, nested types after {@code $}),
 * so that a type becomes public only when someone decided users call it.
 */
class PublicTypesTest {

    /**
     * What services, the starter, the benchmarks and tests outside rm-client call. Everything else is
     * package-private: the AT-mode engine is one package, {@code io.cohort.rm.jdbc}, so that it can be
     * (as jOOQ keeps its implementation in one package), and nothing is public only because another
     * package of rm-client uses it.
     */
    private static final Set<String> USER_API = Set.of(
            "BranchCoordinator", "BranchCoordinator$StatusProbe", "ForwardingBranchCoordinator",
            "GlobalLockConflictException", "GlobalLockContext", "RmConfig", "UndoLogFormat", "UnsupportedStatementException",
            "jdbc.DataSourceProxy", "jdbc.ResourceManager", "jdbc.ResourceManager$Builder",
            "autoconfigure.CohortRmAutoConfiguration", "autoconfigure.CohortRmProperties",
            "autoconfigure.CohortRmProperties$Schema", "autoconfigure.CohortRmProperties$ThreePhase",
            "autoconfigure.CohortRmProperties$Undo");

    @Test
    void shouldMakePublicOnlyTheListedTypes() {
        Set<String> actual = new TreeSet<>();
        for (JavaClass c : new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("io.cohort.rm")) {
            if (visibleOutsideItsPackage(c)) {
                actual.add(c.getName().substring("io.cohort.rm.".length()));
            }
        }
        Set<String> listed = new TreeSet<>(USER_API);

        Set<String> added = new TreeSet<>(actual);
        added.removeAll(listed);
        if (!added.isEmpty()) {
            throw new AssertionError("New public type(s) in rm-client: " + added + ". Keep a type package-private"
                    + " unless users call it (then add it to USER_API); if only another package of rm-client needs"
                    + " it, move the user next to it or give DataSourceProxy/ResourceManager a method for it.");
        }
        Set<String> gone = new TreeSet<>(listed);
        gone.removeAll(actual);
        if (!gone.isEmpty()) {
            throw new AssertionError("Listed as public but no longer public (or gone): " + gone
                    + ". Remove them from USER_API.");
        }
    }

    /** Public, and so are the types it is nested in: what code in another package can name. */
    private static boolean visibleOutsideItsPackage(JavaClass c) {
        if (c.isAnonymousClass() || c.isLocalClass() || !c.getModifiers().contains(JavaModifier.PUBLIC)) {
            return false;
        }
        Optional<JavaClass> enclosing = c.getEnclosingClass();
        return enclosing.isEmpty() || visibleOutsideItsPackage(enclosing.get());
    }
}
