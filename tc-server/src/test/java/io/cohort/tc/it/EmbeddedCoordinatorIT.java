package io.cohort.tc.it;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;

/** Every coordinator scenario on the embedded (default) store. */
class EmbeddedCoordinatorIT extends CoordinatorScenarios {

    @TempDir
    Path dataDir;

    @Override
    Map<String, Object> storeProperties() {
        return Map.of("cohort.tc.store.type", "embedded", "cohort.tc.store.embedded.dir", dataDir.toString());
    }
}
