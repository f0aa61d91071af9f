package io.cohort.rm.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.rm.UndoLogFormat;
import java.nio.charset.StandardCharsets;
import java.sql.JDBCType;
import java.util.ArrayList;
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
        UndoCodec codec = new UndoCodec(4096, 1 << 20, UndoLogFormat.BINARY);
        byte[] bytes = codec.encodeJson(List.of(record("ü \"quoted\"")));
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
        for (boolean json : new boolean[] {false, true}) {
            UndoCodec codec = new UndoCodec(1024, 1 << 20, UndoLogFormat.BINARY);
            byte[] bytes = json ? codec.encodeJson(List.of(record(big))) : codec.encodeBinary(List.of(record(big)));
            assertThat(bytes[0]).isEqualTo((byte) (json ? 'Z' : 'D'));
            assertThat(bytes.length).isLessThan(5_000);
            assertThat(codec.decode(bytes).get(0).after().get(0)[1]).isEqualTo(big);
            assertThatThrownBy(() -> new UndoCodec(1024, 50_000, UndoLogFormat.BINARY).decode(bytes))
                    .isInstanceOf(UndoFormatException.class).hasMessageContaining("max-inflated-bytes");
        }
    }

    /** Every value comes back exactly: NUL, unpaired surrogates, emoji, empty, null, lengths across varint sizes. */
    @Test
    void binaryLogsGiveBackEveryStringExactly() {
        List<String> values = new ArrayList<>(List.of("", "\u0000", "a\u0000b", "\ud800", "x\udfffy", "\udbff\udc00",
                "😀 emoji", "ü é ß", "\u07ff\u0800\uffff", "\\x00ff", "NaN", "-0", "'quoted' \"double\"", "line\nbreak\r\t",
                "{\"a\":[1,null]}", "x".repeat(127), "y".repeat(128), "z".repeat(16_383), "w".repeat(16_384),
                "é".repeat(70_000)));
        StringBuilder every = new StringBuilder();
        for (char c = 0; c < Character.MAX_VALUE; c++) {
            every.append(c);
        }
        values.add(every.append(Character.MAX_VALUE).toString());
        List<ColumnMeta> cols = new ArrayList<>();
        for (int i = 0; i < values.size() + 1; i++) {
            cols.add(new ColumnMeta("c" + i + " \"ü\"", JDBCType.values()[i % JDBCType.values().length],
                    i % 3 == 0 ? null : "type " + i, i % 2 == 0));
        }
        String[] row = values.toArray(new String[values.size() + 1]); // the last is null
        String[] reversed = new String[row.length];
        for (int i = 0; i < row.length; i++) {
            reversed[i] = row[row.length - 1 - i];
        }
        List<UndoRecord> records = List.of(
                new UndoRecord(UndoRecord.Op.UPDATE, null, "t", cols, List.of(cols.get(1).name(), cols.get(0).name()),
                        List.<String[]>of(row, reversed), List.<String[]>of(reversed, row)),
                new UndoRecord(UndoRecord.Op.INSERT, "s", "u", cols, List.of(cols.get(2).name()), List.of(),
                        List.<String[]>of(row)),
                new UndoRecord(UndoRecord.Op.DELETE, "", "v", cols, List.of(cols.get(3).name()), List.<String[]>of(reversed),
                        List.of()));
        for (int threshold : new int[] {Integer.MAX_VALUE, 0}) {
            UndoCodec codec = new UndoCodec(threshold, 1 << 24, UndoLogFormat.BINARY);
            byte[] bytes = codec.encodeBinary(records);
            assertThat(bytes[0]).isEqualTo((byte) (threshold == 0 ? 'D' : 'B'));
            List<UndoRecord> back = codec.decode(bytes);
            assertThat(back).hasSize(3);
            for (int r = 0; r < 3; r++) {
                UndoRecord expected = records.get(r);
                UndoRecord actual = back.get(r);
                assertThat(actual.op()).isEqualTo(expected.op());
                assertThat(actual.schema()).isEqualTo(expected.schema());
                assertThat(actual.table()).isEqualTo(expected.table());
                assertThat(actual.columns()).isEqualTo(expected.columns());
                assertThat(actual.primaryKey()).isEqualTo(expected.primaryKey());
                assertThat(actual.before()).hasSameSizeAs(expected.before());
                assertThat(actual.after()).hasSameSizeAs(expected.after());
                for (int i = 0; i < expected.before().size(); i++) {
                    assertThat(actual.before().get(i)).containsExactly(expected.before().get(i));
                }
                for (int i = 0; i < expected.after().size(); i++) {
                    assertThat(actual.after().get(i)).containsExactly(expected.after().get(i));
                }
            }
        }
        UndoCodec codec = new UndoCodec(4096, 1 << 20, UndoLogFormat.BINARY);
        assertThat(codec.decode(codec.encodeBinary(List.of()))).isEmpty();
    }

    /** The transfer's branch: a one-row UPDATE of a three-column table, in about a third of its JSON. */
    @Test
    void binaryLogOfAOneRowUpdateIsAThirdOfItsJson() {
        UndoCodec codec = new UndoCodec(4096, 1 << 20, UndoLogFormat.BINARY);
        List<ColumnMeta> account = List.of(new ColumnMeta("id", JDBCType.BIGINT, "bigint", false),
                new ColumnMeta("owner", JDBCType.VARCHAR, "text", false),
                new ColumnMeta("balance", JDBCType.BIGINT, "bigint", false));
        List<UndoRecord> log = List.of(new UndoRecord(UndoRecord.Op.UPDATE, "public", "account", account, List.of("id"),
                List.<String[]>of(new String[] {"17", "owner-17", "1000000"}),
                List.<String[]>of(new String[] {"17", "owner-17", "999950"})));
        byte[] binary = codec.encodeBinary(log);
        byte[] json = codec.encodeJson(log);
        assertThat(binary.length).isLessThan(json.length / 2);
        assertThat(codec.decode(binary).get(0).after().get(0)).containsExactly("17", "owner-17", "999950");
    }

    /** Cut anywhere, or with any byte changed, a binary log is refused as such or read whole; nothing else escapes. */
    @Test
    void truncatedOrCorruptBinaryLogsAreRefused() {
        UndoCodec codec = new UndoCodec(4096, 1 << 20, UndoLogFormat.BINARY);
        byte[] bytes = codec.encodeBinary(List.of(record("ü \ud800 x"), record(null)));
        for (int len = 0; len < bytes.length; len++) {
            byte[] cut = java.util.Arrays.copyOf(bytes, len);
            assertThatThrownBy(() -> codec.decode(cut)).isInstanceOf(UndoFormatException.class);
        }
        byte[] longer = java.util.Arrays.copyOf(bytes, bytes.length + 1);
        assertThatThrownBy(() -> codec.decode(longer)).isInstanceOf(UndoFormatException.class)
                .hasMessageContaining("after its last record");
        for (int i = 1; i < bytes.length; i++) {
            for (int v : new int[] {0x00, 0x7f, 0x80, 0xc0, 0xe0, 0xff}) {
                byte[] changed = bytes.clone();
                changed[i] = (byte) v;
                try {
                    codec.decode(changed);
                } catch (UndoFormatException expected) {
                    // refused as such
                }
            }
        }
        byte[] future = bytes.clone();
        future[1] = 2;
        assertThatThrownBy(() -> codec.decode(future)).isInstanceOf(UndoFormatException.class)
                .hasMessageContaining("version 2");
    }

    @Test
    void refusesUnknownVersionsAndGarbage() {
        UndoCodec codec = new UndoCodec(4096, 1 << 20, UndoLogFormat.BINARY);
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
        UndoRecord r = new UndoCodec(4096, 1 << 20, UndoLogFormat.BINARY).decode(v1.getBytes(StandardCharsets.UTF_8)).get(0);
        assertThat(r.columns()).extracting(ColumnMeta::sqlType).containsOnlyNulls();
        assertThat(r.before().get(0)).containsExactly("1", "\\x00ff10");
        assertThat(r.before().get(1)).containsExactly("2", null);
    }

    /** The pieces a statement forms the log from in SQL decode, joined around rows, to the same records. */
    @Test
    void updateLogPiecesAreCutFromWhatEncodeWrites() {
        TableMeta meta = new TableMeta("ledger", "t \"q\"", columns, List.of("id"));
        UndoCodec.UpdateLogPieces p = UndoCodec.updateLogPieces(meta);
        UndoCodec codec = new UndoCodec(0, 1 << 20, UndoLogFormat.BINARY);
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

    /** encode() writes the configured form; a codec of either form reads both. */
    @Test
    void encodeWritesTheConfiguredFormAndEitherCodecReadsBoth() {
        UndoCodec json = new UndoCodec(4096, 1 << 20, UndoLogFormat.JSON);
        UndoCodec binary = new UndoCodec(4096, 1 << 20, UndoLogFormat.BINARY);
        List<UndoRecord> log = List.of(record("x"));
        assertThat(json.encode(log)[0]).isEqualTo((byte) 'J');
        assertThat(binary.encode(log)[0]).isEqualTo((byte) 'B');
        assertThat(json.decode(binary.encode(log)).get(0).after().get(0)).containsExactly("1", "x", null);
        assertThat(binary.decode(json.encode(log)).get(0).after().get(0)).containsExactly("1", "x", null);
    }
}
