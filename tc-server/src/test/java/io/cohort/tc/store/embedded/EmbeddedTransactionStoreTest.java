package io.cohort.tc.store.embedded;

import io.cohort.tc.store.TransactionStore;
import io.cohort.tc.store.TransactionStoreContractTest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedTransactionStoreTest extends TransactionStoreContractTest {

    @TempDir
    Path dir;

    SimpleMeterRegistry registry = new SimpleMeterRegistry();

    EmbeddedStoreConfig config() {
        return EmbeddedStoreConfig.defaults(dir.resolve("data"));
    }

    @Override
    protected TransactionStore newStore() {
        return new EmbeddedTransactionStore(config(), clock, registry);
    }

    @Override
    protected TransactionStore reopen(TransactionStore current) {
        current.close();
        return new EmbeddedTransactionStore(config(), clock, registry);
    }
}
