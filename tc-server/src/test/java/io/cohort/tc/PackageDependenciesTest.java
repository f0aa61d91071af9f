package io.cohort.tc;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.store.TransactionStore;
import io.cohort.testsupport.PackageCycles;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The TC's package layering: no new cycle between its packages, and the coordinator never imports
 * the gRPC layer ({@code rpc}) that sits on top of it.
 */
class PackageDependenciesTest {

    private static final String ROOT = "io.cohort.tc";

    /** Cycles that exist today; a new one, or one of these taking in another package, fails. */
    private static final List<Set<String>> KNOWN_CYCLES = List.of(
            // TcConfiguration wires GrpcServer; GrpcServer reads TcProperties.Tls.
            Set.of("config", "rpc"));

    @Test
    void shouldHaveNoPackageCycleButTheKnownOnes() {
        PackageCycles.of(ROOT).assertNoCyclesBut(KNOWN_CYCLES);
    }

    @Test
    void shouldKeepTheCoordinatorFreeOfTheRpcPackage() {
        coordinatorDoesNotImportRpc(ROOT).check(mainClasses());
    }

    /**
     * Every status write goes through the transition table (StatusMoves), and only the decision
     * (Phase2Driver.decide) takes a transaction out of BEGIN (issue 17, item 3).
     */
    @Test
    void shouldMoveStatusesOnlyThroughTheTransitionTableWithOneWayOutOfBegin() {
        String moves = ROOT + ".coordinator.StatusMoves";
        noClasses().that().doNotHaveFullyQualifiedName(moves)
                .should().callMethod(TransactionStore.class, "transitionGlobal", String.class, GlobalStatus.class,
                        GlobalStatus.class, String.class)
                .because("a status move the table does not allow must be refused, not written")
                .check(mainClasses());
        noClasses().that().doNotHaveFullyQualifiedName(ROOT + ".coordinator.Phase2Driver")
                .should().callMethod(moves, "leaveBegin", String.class.getName(), GlobalStatus.class.getName(),
                        String.class.getName())
                .because("one owner decides a transaction's outcome")
                .check(mainClasses());
    }

    @Test
    void shouldCatchANewCycleAndACoordinatorImportingRpc() {
        String fixture = ROOT + ".packagecheck";
        JavaClasses classes = new ClassFileImporter().importPackages(fixture);

        assertThatThrownBy(() -> PackageCycles.of(fixture, classes).assertNoCyclesBut(KNOWN_CYCLES))
                .hasMessageContaining("New package cycle(s) under " + fixture + ": [coordinator, rpc]")
                .hasMessageContaining("coordinator -> rpc: Method <" + fixture + ".coordinator.Driver.dispatcher()>");
        assertThat(coordinatorDoesNotImportRpc(fixture).evaluate(classes).hasViolation()).isTrue();
        PackageCycles.of(fixture, classes).assertNoCyclesBut(List.of(Set.of("coordinator", "rpc")));
    }

    private static ArchRule coordinatorDoesNotImportRpc(String root) {
        return noClasses().that().resideInAPackage(root + ".coordinator..")
                .should().dependOnClassesThat().resideInAPackage(root + ".rpc..")
                .because("the coordinator is reached through rpc, never the other way round (issue 17)");
    }

    private static JavaClasses mainClasses() {
        return new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages(ROOT);
    }
}
