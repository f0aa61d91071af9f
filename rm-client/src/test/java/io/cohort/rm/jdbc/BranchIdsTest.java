package io.cohort.rm.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.SecureRandom;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class BranchIdsTest {

    @Test
    void idsArePositiveDistinctAndDrawnFromTheSecureRandomABlockAtATime() {
        AtomicInteger draws = new AtomicInteger();
        SecureRandom counting = new SecureRandom() {
            @Override
            public void nextBytes(byte[] bytes) {
                draws.incrementAndGet();
                super.nextBytes(bytes);
            }
        };
        BranchIds ids = new BranchIds(counting);
        Set<Long> seen = new HashSet<>();
        for (int i = 0; i < 4 * BranchIds.BLOCK; i++) {
            long id = ids.nextId();
            assertThat(id).isPositive();
            seen.add(id);
        }
        assertThat(seen).hasSize(4 * BranchIds.BLOCK);
        // one draw per block, not one (or, through nextLong, two) per id
        assertThat(draws).hasValue(4);
    }

    @Test
    void theProcessWideIdsArePositiveAndDistinct() {
        Set<Long> seen = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            assertThat(seen.add(BranchIds.next())).isTrue();
        }
        assertThat(seen).allMatch(id -> id > 0);
    }
}
