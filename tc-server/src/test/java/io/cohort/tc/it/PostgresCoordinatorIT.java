package io.cohort.tc.it;

import io.cohort.testsupport.TestPostgres;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;

/** Every coordinator scenario on the PostgreSQL store. */
class PostgresCoordinatorIT extends CoordinatorScenarios {

    private String url;

    @BeforeEach
    @Override
    void startTc() {
        url = TestPostgres.get().createDatabase("tc_it");
        super.startTc();
    }

    @Override
    Map<String, Object> storeProperties() {
        return Map.of("cohort.tc.store.type", "postgres",
                "cohort.tc.store.postgres.url", url,
                "cohort.tc.store.postgres.username", TestPostgres.get().user(),
                "cohort.tc.store.postgres.password", TestPostgres.get().password(),
                "cohort.tc.store.postgres.max-pool-size", "8",
                // One id across the restarts of the scenarios: the restarted TC owns its transactions at once.
                "cohort.tc.store.postgres.replica-id", "coordinator-it");
    }
}
