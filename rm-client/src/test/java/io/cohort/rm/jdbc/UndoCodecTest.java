package io.cohort.rm.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.sql.JDBCType;
import java.util.List;
import org.junit.jupiter.api.Test;

class UndoCodecTest {

    private final List<ColumnMeta> columns = List.of(new ColumnMeta("id", JDBCType.BIGINT, "bigint", false),
            new ColumnMeta("note", JDBCType.VARCHAR, "text", false), new ColumnMeta("doc", JDBCType.OTHER, "jsonb", true));

    private UndoRecord record(String note) {
        return new UndoRecord(UndoRecord.Op.UPDATE, "public", "t", columns, List.of("id"),
                List.<String[]>of(new String[] {"1", null, "{\"a\":1}"}), List.<String[]>of(new String[] {"1", note, null}));
    }

    @Test
    void roundTripsSmallLogsAsPlainJsonWithoutClassNames() {
        UndoCodec codec = new UndoCodec(4096, 1 << 20);
        byte[] bytes = codec.encode(List.of(record("ü \"quoted\"")));
        assertThat(bytes[0]).isEqualTo((byte) 'J');
        String json = new String(bytes, 1, bytes.length - 1, StandardCharsets.UTF_8);
        assertThat(json).startsWith("{\"v\":2,").contains("\"sqlType\":\"jsonb\"").doesNotContain("io.cohort").doesNotContain("@class");
        UndoRecord back = codec.decode(bytes).get(0);
        assertThat(back.columns()).isEqualTo(columns);
        assertThat(back.before().get(0)).containsExactly("1", null, "{\"a\":1}");
        assertThat(back.after().get(0)).containsExactly("1", "ü \"quoted\"", null);
    }

    @Test
    void compressesLargeLogsAndRefusesToInflateBeyondTheCap() {
        String big = "x".repeat(100_000);
        byte[] bytes = new UndoCodec(1024, 1 << 20).encode(List.of(record(big)));
        assertThat(bytes[0]).isEqualTo((byte) 'Z');
        assertThat(bytes.length).isLessThan(5_000);
        assertThat(new UndoCodec(1024, 1 << 20).decode(bytes).get(0).after().get(0)[1]).isEqualTo(big);
        assertThatThrownBy(() -> new UndoCodec(1024, 50_000).decode(bytes))
                .isInstanceOf(UndoFormatException.class).hasMessageContaining("max-inflated-bytes");
    }

    @Test
    void refusesUnknownVersionsAndGarbage() {
        UndoCodec codec = new UndoCodec(4096, 1 << 20);
        assertThatThrownBy(() -> codec.decode("J{\"v\":3,\"records\":[]}".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(UndoFormatException.class).hasMessageContaining("version 3");
        assertThatThrownBy(() -> codec.decode(new byte[] {'Z', 0x7f, 0, 0, 0, 1}))
                .isInstanceOf(UndoFormatException.class);
        assertThatThrownBy(() -> codec.decode("J{\"v\":1,\"records\":[{\"op\":\"UPDATE\",\"@class\":\"x\"}]}"
                .getBytes(StandardCharsets.UTF_8))).isInstanceOf(UndoFormatException.class);
    }

    @Test
    void readsVersionOneLogsWrittenBeforeAnUpgradeWithByteaAsTheDatabasesHexText() {
        String v1 = "J{\"v\":1,\"records\":[{\"op\":\"DELETE\",\"schema\":\"public\",\"table\":\"t\","
                + "\"columns\":[{\"name\":\"id\",\"type\":\"BIGINT\"},{\"name\":\"b\",\"type\":\"BINARY\"}],"
                + "\"pk\":[\"id\"],\"before\":[[\"1\",\"AP8Q\"],[\"2\",null]],\"after\":[]}]}";
        UndoRecord r = new UndoCodec(4096, 1 << 20).decode(v1.getBytes(StandardCharsets.UTF_8)).get(0);
        assertThat(r.columns()).extracting(ColumnMeta::sqlType).containsOnlyNulls();
        assertThat(r.before().get(0)).containsExactly("1", "\\x00ff10");
        assertThat(r.before().get(1)).containsExactly("2", null);
    }

    /** The pieces a statement forms the log from in SQL decode, joined around rows, to the same records. */
    @Test
    void updateLogPiecesAreCutFromWhatEncodeWrites() {
        TableMeta meta = new TableMeta("ledger", "t \"q\"", columns, List.of("id"));
        UndoCodec.UpdateLogPieces p = UndoCodec.updateLogPieces(meta);
        UndoCodec codec = new UndoCodec(0, 1 << 20);
        String rows = "[\"1\", null, \"{\\\"a\\\":1}\"],[\"2\", \"ü\\n\", null]";
        List<UndoRecord> back = codec.decode((p.prefix() + rows + p.middle() + rows + p.suffix())
                .getBytes(StandardCharsets.UTF_8));
        assertThat(back).hasSize(1);
        UndoRecord r = back.get(0);
        assertThat(r.op()).isEqualTo(UndoRecord.Op.UPDATE);
        assertThat(r.schema()).isEqualTo("ledger");
        assertThat(r.table()).isEqualTo("t \"q\"");
        assertThat(r.columns()).isEqualTo(columns);
        assertThat(r.after().get(1)).containsExactly("2", "ü\n", null);
        assertThat(r.before().get(0)).containsExactly("1", null, "{\"a\":1}");
        assertThat(codec.decode(p.empty().getBytes(StandardCharsets.UTF_8))).isEmpty();
    }
}
