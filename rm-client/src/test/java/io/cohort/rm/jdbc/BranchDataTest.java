package io.cohort.rm.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class BranchDataTest {

    private static final List<UndoRecord> RECORDS = List.of(
            new UndoRecord(UndoRecord.Op.UPDATE, "public", "account", List.of(), List.of("id"), List.of(), List.of()),
            new UndoRecord(UndoRecord.Op.DELETE, "ledger", "entry", List.of(), List.of("id"), List.of(), List.of()),
            new UndoRecord(UndoRecord.Op.INSERT, null, "account", List.of(), List.of("id"), List.of(), List.of()));

    @Test
    void aTableListDecodesToItsTablesAndNoImages() {
        BranchData.Recorded recorded = BranchData.decode(BranchData.tables(RECORDS));
        assertThat(recorded.tables()).containsExactly("account", "ledger.entry");
        assertThat(recorded.images()).isNull();
    }

    @Test
    void tablesAndImagesDecodeToBothWhateverBytesTheUndoLogHolds() {
        byte[] undo = {0, '\n', (byte) 0xff, 'c', 'o', 'h', 'o', 'r', 't', '-', 't', 'a', 'b', 'l', 'e', 's', '/', '1'};
        BranchData.Recorded recorded = BranchData.decode(BranchData.tablesAndImages(RECORDS, undo));
        assertThat(recorded.tables()).containsExactly("account", "ledger.entry");
        assertThat(recorded.images()).isEqualTo(undo);
    }

    @Test
    void noDataIsNothingRecorded() {
        assertThat(BranchData.decode(new byte[0])).isEqualTo(BranchData.Recorded.NONE);
    }

    @Test
    void dataInNeitherFormIsRefusedSayingWhatWasExpected() {
        assertThatThrownBy(() -> BranchData.decode("something else".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cohort-tables/1");
        assertThatThrownBy(() -> BranchData.decode("cohort-undo/1\nx\n".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("length");
        assertThatThrownBy(() -> BranchData.decode("cohort-undo/1\n999\ncohort-tables/1\n".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("length");
    }
}
