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

    /** What services, the starter, the benchmarks and tests outside rm-client call. */
    private static final Set<String> USER_API = Set.of(
            "BranchCoordinator", "BranchCoordinator$StatusProbe", "ForwardingBranchCoordinator",
            "GlobalLockConflictException", "GlobalLockContext", "RmConfig", "UnsupportedStatementException",
            "jdbc.ResourceManager", "jdbc.ResourceManager$Builder",
            "jdbc.DataSourceProxy",
            "autoconfigure.CohortRmAutoConfiguration", "autoconfigure.CohortRmProperties",
            "autoconfigure.CohortRmProperties$Schema", "autoconfigure.CohortRmProperties$ThreePhase",
            "autoconfigure.CohortRmProperties$Undo");

    /**
     * Public only because another package of rm-client uses them (Java has no narrower visibility
     * across packages). Not API: they may change in any release.
     */
    private static final Set<String> PUBLIC_FOR_OTHER_PACKAGES = Set.of(
            "jdbc.BranchPhase2Handler", "jdbc.BranchRuntime",
            "jdbc.Dialect", "jdbc.Dialect$SessionPin", "jdbc.Dialects", "jdbc.TableMetaCache",
            "jdbc.MySqlDialect", "jdbc.PostgresDialect",
            "jdbc.ColumnMeta", "jdbc.TableMeta", "jdbc.ValueCodec",
            "jdbc.Resource",
            "jdbc.ParamCounter", "jdbc.SqlPlan", "jdbc.SqlPlan$Delete", "jdbc.SqlPlan$Insert", "jdbc.SqlPlan$LockingSelect",
            "jdbc.SqlPlan$PassThrough", "jdbc.SqlPlan$Unsupported", "jdbc.SqlPlan$Update", "jdbc.SqlPlanCache",
            "jdbc.BranchTables", "jdbc.ImageApplier", "jdbc.ImageApplier$Direction", "jdbc.ImageApplier$Outcome",
            "jdbc.UndoCodec", "jdbc.UndoLogStatus", "jdbc.UndoLogTable", "jdbc.UndoLogTable$Branch",
            "jdbc.UndoLogTable$Decision", "jdbc.UndoLogTable$Quiet", "jdbc.UndoLogTable$Row",
            "jdbc.UndoLogTable$UnknownStatusException", "jdbc.UndoRecord", "jdbc.UndoRecord$Op");

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
        listed.addAll(PUBLIC_FOR_OTHER_PACKAGES);

        Set<String> added = new TreeSet<>(actual);
        added.removeAll(listed);
        if (!added.isEmpty()) {
            throw new AssertionError("New public type(s) in rm-client: " + added + ". Keep a type package-private"
                    + " unless code outside its package needs it; add it to USER_API only if users call it, or to"
                    + " PUBLIC_FOR_OTHER_PACKAGES if only another package of rm-client does.");
        }
        Set<String> gone = new TreeSet<>(listed);
        gone.removeAll(actual);
        if (!gone.isEmpty()) {
            throw new AssertionError("Listed as public but no longer public (or gone): " + gone
                    + ". Remove them from the lists in PublicTypesTest.");
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
