package io.cohort.rm.jdbc;

import io.cohort.rm.UndoLogFormat;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.sql.JDBCType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;
import tools.jackson.core.JacksonException;
import tools.jackson.core.JsonGenerator;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.ObjectReadContext;
import tools.jackson.core.ObjectWriteContext;
import tools.jackson.core.json.JsonFactory;

/**
 * The undo log's bytes. Written as JSON ({@code 'J'}) or, when {@code cohort.rm.undo-log-format}
 * is {@code binary}, in a compact binary form ({@code 'B'}, below) that RMs before 2026-12-01 cannot
 * read; both are always read. The one-round-trip UPDATE forms the JSON in SQL ({@link #updateLogPieces})
 * whatever the setting. The JSON is written and read token by token with
 * Jackson's streaming API — no data binding, so no class name is ever read from the data — shaped as
 * <pre>{"v":2,"records":[{"op":"UPDATE","schema":"public","table":"account",
 *   "columns":[{"name":"id","type":"BIGINT","sqlType":"bigint"},...],"pk":["id"],
 *   "before":[["1","100.00"]],"after":[["1","90.00"]]}]}</pre>
 * Values are the database's own text for them ({@link ValueCodec}); null is JSON null.
 * <p>Version 1 (before 2026-11-29) held the driver's renderings and no {@code sqlType}. It is still
 * read, for logs written before an upgrade: its bytea values (base64) become the database's hex
 * text, its other renderings are text the database parses, and the SQL types come from the catalog.
 * <p>The binary form holds the same fields as JSON version 2, in the same order, without names:
 * its own version, the record count, then per record the op, schema, table, columns (name, JDBC
 * type number, SQL type, generated), primary key, before rows and after rows. Counts and lengths are
 * unsigned varints; a string is its length + 1 (0 for null) then its chars in modified UTF-8 (as
 * {@code DataOutput.writeUTF}, without its 64 KiB limit), which gives back every Java string exactly,
 * unpaired surrogates and NUL included. A one-row UPDATE of a three-column table takes about a third
 * of its JSON's bytes, with one copy instead of three.
 * <p>Framing: one format byte — {@code 'B'} binary, {@code 'D'} deflated binary, {@code 'J'} JSON,
 * {@code 'Z'} deflated JSON — the deflated ones followed by the inflated length (4 bytes). Logs above
 * the compression threshold are deflated; inflating refuses anything declared or found larger than
 * the cap, so a hostile row cannot exhaust memory.
 */
final class UndoCodec {

    static final int VERSION = 2;
    private static final int VERSION_1 = 1;
    private static final byte PLAIN = 'J';
    private static final byte DEFLATED = 'Z';
    private static final byte BINARY = 'B';
    private static final byte DEFLATED_BINARY = 'D';
    /** The binary form's own version, after its format byte. */
    private static final int BINARY_VERSION = 1;
    private static final JsonFactory JSON = new JsonFactory();

    private final int compressThreshold;
    private final int maxInflatedBytes;
    private final UndoLogFormat format;

    UndoCodec(int compressThreshold, int maxInflatedBytes, UndoLogFormat format) {
        this.compressThreshold = compressThreshold;
        this.maxInflatedBytes = maxInflatedBytes;
        this.format = format;
    }

    /** In the configured form ({@code cohort.rm.undo-log-format}). */
    byte[] encode(List<UndoRecord> records) {
        return format == UndoLogFormat.BINARY ? encodeBinary(records) : encodeJson(records);
    }

    byte[] encodeBinary(List<UndoRecord> records) {
        Out out = new Out();
        out.bytes[0] = BINARY;
        out.n = 1;
        writeBinary(out, records);
        if (out.n - 1 <= compressThreshold) {
            return Arrays.copyOf(out.bytes, out.n);
        }
        return deflate(DEFLATED_BINARY, out.bytes, 1, out.n - 1);
    }

    /** The JSON form, which every RM version reads; the one-round-trip UPDATE forms the same in SQL. */
    byte[] encodeJson(List<UndoRecord> records) {
        byte[] json = toJson(records);
        if (json.length <= compressThreshold) {
            byte[] out = new byte[json.length + 1];
            out[0] = PLAIN;
            System.arraycopy(json, 0, out, 1, json.length);
            return out;
        }
        return deflate(DEFLATED, json, 0, json.length);
    }

    private static byte[] deflate(byte format, byte[] in, int offset, int length) {
        Deflater deflater = new Deflater(Deflater.BEST_SPEED);
        try {
            deflater.setInput(in, offset, length);
            deflater.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream(length / 4 + 16);
            out.write(format);
            out.writeBytes(ByteBuffer.allocate(4).putInt(length).array());
            byte[] buf = new byte[8192];
            while (!deflater.finished()) {
                int n = deflater.deflate(buf);
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        } finally {
            deflater.end();
        }
    }

    /**
     * The plain-format undo log of one UPDATE of {@code meta}'s table, in pieces for a statement that
     * forms the log in SQL ({@link Dialect#updateWritingUndoLog}): {@code prefix}, the before rows
     * (JSON arrays of the image texts, comma-separated), {@code middle}, the after rows in the same
     * order, {@code suffix}; or {@code empty}, the log of a statement that changed no row. Cut from
     * what {@link #encodeJson} writes, so the two cannot drift apart; the format byte is the first
     * character of {@code prefix} and {@code empty}.
     */
    record UpdateLogPieces(String prefix, String middle, String suffix, String empty) {
    }

    static UpdateLogPieces updateLogPieces(TableMeta meta) {
        String record = new String(toJson(List.of(DmlExecutors.record(UndoRecord.Op.UPDATE, meta, List.of(),
                List.of()))), StandardCharsets.UTF_8);
        // An unescaped quote is always JSON structure, never part of a name: this occurs once, at the rows.
        String rows = "\"before\":[],\"after\":[]";
        int at = record.lastIndexOf(rows);
        int afterAt = at + "\"before\":[".length();
        String empty = new String(toJson(List.of()), StandardCharsets.UTF_8);
        return new UpdateLogPieces((char) PLAIN + record.substring(0, afterAt), "],\"after\":[",
                record.substring(at + rows.length() - 1), (char) PLAIN + empty);
    }

    List<UndoRecord> decode(byte[] bytes) {
        if (bytes == null || bytes.length == 0) {
            throw new UndoFormatException("empty undo log");
        }
        if (bytes[0] == BINARY) {
            return readBinary(bytes, 1);
        }
        if (bytes[0] == DEFLATED_BINARY) {
            return readBinary(inflate(bytes), 0);
        }
        byte[] json;
        if (bytes[0] == PLAIN) {
            json = Arrays.copyOfRange(bytes, 1, bytes.length);
        } else if (bytes[0] == DEFLATED) {
            json = inflate(bytes);
        } else {
            throw new UndoFormatException("unknown undo log format byte " + bytes[0]);
        }
        try {
            return fromJson(json);
        } catch (JacksonException | IllegalArgumentException e) {
            throw new UndoFormatException("unreadable undo log: " + e.getMessage());
        }
    }

    // ---- the binary form ----

    private static final int OP_INSERT = 1;
    private static final int OP_UPDATE = 2;
    private static final int OP_DELETE = 3;

    /** A growing byte array: one buffer, copied once at the end. */
    private static final class Out {
        byte[] bytes = new byte[256];
        int n;

        void ensure(int more) {
            if (n + more > bytes.length) {
                bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, n + more));
            }
        }

        void varint(int v) {
            ensure(5);
            while ((v & ~0x7f) != 0) {
                bytes[n++] = (byte) ((v & 0x7f) | 0x80);
                v >>>= 7;
            }
            bytes[n++] = (byte) v;
        }

        /** Length + 1 (0: null), then modified UTF-8: every char, surrogates and NUL included, comes back as it was. */
        void string(String s) {
            if (s == null) {
                varint(0);
                return;
            }
            int len = s.length();
            int utf = 0;
            for (int i = 0; i < len; i++) {
                char c = s.charAt(i);
                utf += c >= 0x01 && c <= 0x7f ? 1 : c <= 0x7ff ? 2 : 3;
            }
            varint(utf + 1);
            ensure(utf);
            byte[] b = bytes;
            int at = n;
            for (int i = 0; i < len; i++) {
                char c = s.charAt(i);
                if (c >= 0x01 && c <= 0x7f) {
                    b[at++] = (byte) c;
                } else if (c <= 0x7ff) {
                    b[at++] = (byte) (0xc0 | (c >> 6));
                    b[at++] = (byte) (0x80 | (c & 0x3f));
                } else {
                    b[at++] = (byte) (0xe0 | (c >> 12));
                    b[at++] = (byte) (0x80 | ((c >> 6) & 0x3f));
                    b[at++] = (byte) (0x80 | (c & 0x3f));
                }
            }
            n = at;
        }
    }

    private static void writeBinary(Out out, List<UndoRecord> records) {
        out.varint(BINARY_VERSION);
        out.varint(records.size());
        for (UndoRecord r : records) {
            out.varint(switch (r.op()) {
                case INSERT -> OP_INSERT;
                case UPDATE -> OP_UPDATE;
                case DELETE -> OP_DELETE;
            });
            out.string(r.schema());
            out.string(r.table());
            out.varint(r.columns().size());
            for (ColumnMeta c : r.columns()) {
                out.string(c.name());
                out.varint(zigzag(c.type().getVendorTypeNumber()));
                out.string(c.sqlType());
                out.varint(c.generated() ? 1 : 0);
            }
            out.varint(r.primaryKey().size());
            for (String k : r.primaryKey()) {
                out.string(k);
            }
            writeRows(out, r.before());
            writeRows(out, r.after());
        }
    }

    private static void writeRows(Out out, List<String[]> rows) {
        out.varint(rows.size());
        for (String[] row : rows) {
            for (String v : row) {
                out.string(v);
            }
        }
    }

    private static int zigzag(int v) {
        return (v << 1) ^ (v >> 31);
    }

    /** Reads the binary form from {@code bytes[at]}; anything short, long or malformed is an {@link UndoFormatException}. */
    private static List<UndoRecord> readBinary(byte[] bytes, int at) {
        In in = new In(bytes, at);
        int version = in.varint();
        if (version != BINARY_VERSION) {
            throw new UndoFormatException("binary undo log format version " + version + " is not " + BINARY_VERSION
                    + "; was it written by a newer Cohort?");
        }
        int count = in.count();
        List<UndoRecord> records = new ArrayList<>(count);
        for (int r = 0; r < count; r++) {
            int code = in.varint();
            UndoRecord.Op op = switch (code) {
                case OP_INSERT -> UndoRecord.Op.INSERT;
                case OP_UPDATE -> UndoRecord.Op.UPDATE;
                case OP_DELETE -> UndoRecord.Op.DELETE;
                default -> throw new UndoFormatException("undo log record with unknown op " + code);
            };
            String schema = in.string();
            String table = in.string();
            int width = in.count();
            List<ColumnMeta> columns = new ArrayList<>(width);
            for (int c = 0; c < width; c++) {
                String name = in.string();
                int typeNumber = in.varint();
                JDBCType type;
                try {
                    type = JDBCType.valueOf((typeNumber >>> 1) ^ -(typeNumber & 1));
                } catch (IllegalArgumentException e) {
                    throw new UndoFormatException("undo log column with unknown JDBC type " + typeNumber);
                }
                String sqlType = in.string();
                int generated = in.varint();
                if (name == null || generated > 1) {
                    throw new UndoFormatException("undo log column without name, or with a bad generated flag");
                }
                columns.add(new ColumnMeta(name, type, sqlType, generated == 1));
            }
            int keys = in.count();
            List<String> pk = new ArrayList<>(keys);
            for (int k = 0; k < keys; k++) {
                String key = in.string();
                if (key == null) {
                    throw new UndoFormatException("undo log primary key with a null column name");
                }
                pk.add(key);
            }
            List<String[]> before = in.rows(width);
            List<String[]> after = in.rows(width);
            if (table == null || columns.isEmpty() || pk.isEmpty()) {
                throw new UndoFormatException("undo log record lacks table, columns or primary key");
            }
            records.add(new UndoRecord(op, schema, table, columns, pk, before, after));
        }
        if (in.at != bytes.length) {
            throw new UndoFormatException("undo log has " + (bytes.length - in.at) + " bytes after its last record");
        }
        return records;
    }

    private static final class In {
        private final byte[] b;
        private int at;

        In(byte[] b, int at) {
            this.b = b;
            this.at = at;
        }

        int varint() {
            int v = 0;
            for (int shift = 0; shift < 35; shift += 7) {
                if (at >= b.length) {
                    throw new UndoFormatException("truncated undo log");
                }
                byte x = b[at++];
                v |= (x & 0x7f) << shift;
                if (x >= 0) {
                    return v;
                }
            }
            throw new UndoFormatException("undo log has a malformed number");
        }

        /** A count of entries, each at least one byte: more than the bytes left cannot be true. */
        int count() {
            int n = varint();
            if (n < 0 || n > b.length - at) {
                throw new UndoFormatException("undo log declares " + n + " entries in " + (b.length - at) + " bytes");
            }
            return n;
        }

        String string() {
            int declared = varint();
            if (declared == 0) {
                return null;
            }
            int len = declared - 1;
            if (len < 0 || len > b.length - at) {
                throw new UndoFormatException("truncated undo log string");
            }
            int end = at + len;
            char[] chars = new char[len];
            int n = 0;
            int i = at;
            while (i < end) {
                int c = b[i] & 0xff;
                if (c >= 0x01 && c <= 0x7f) {
                    chars[n++] = (char) c;
                    i++;
                } else if ((c & 0xe0) == 0xc0 && i + 1 < end && (b[i + 1] & 0xc0) == 0x80) {
                    chars[n++] = (char) (((c & 0x1f) << 6) | (b[i + 1] & 0x3f));
                    i += 2;
                } else if ((c & 0xf0) == 0xe0 && i + 2 < end && (b[i + 1] & 0xc0) == 0x80 && (b[i + 2] & 0xc0) == 0x80) {
                    chars[n++] = (char) (((c & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f));
                    i += 3;
                } else {
                    throw new UndoFormatException("undo log string is not modified UTF-8 at byte " + i);
                }
            }
            at = end;
            return new String(chars, 0, n);
        }

        List<String[]> rows(int width) {
            int count = count();
            if (width > 0 && count > (b.length - at) / width) {
                throw new UndoFormatException("undo log declares " + count + " rows of " + width + " values in "
                        + (b.length - at) + " bytes");
            }
            List<String[]> rows = new ArrayList<>(count);
            for (int r = 0; r < count; r++) {
                String[] row = new String[width];
                for (int i = 0; i < width; i++) {
                    row[i] = string();
                }
                rows.add(row);
            }
            return rows;
        }
    }

    private byte[] inflate(byte[] bytes) {
        if (bytes.length < 5) {
            throw new UndoFormatException("truncated compressed undo log");
        }
        int declared = ByteBuffer.wrap(bytes, 1, 4).getInt();
        if (declared < 0 || declared > maxInflatedBytes) {
            throw new UndoFormatException("compressed undo log declares " + declared + " bytes, more than the "
                    + maxInflatedBytes + " allowed (cohort.rm.undo.max-inflated-bytes)");
        }
        Inflater inflater = new Inflater();
        try {
            inflater.setInput(bytes, 5, bytes.length - 5);
            byte[] out = new byte[declared];
            int n = 0;
            while (n < declared && !inflater.finished()) {
                int r = inflater.inflate(out, n, declared - n);
                if (r == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
                n += r;
            }
            if (n != declared || !inflater.finished()) {
                throw new UndoFormatException("compressed undo log does not inflate to its declared " + declared + " bytes");
            }
            return out;
        } catch (DataFormatException e) {
            throw new UndoFormatException("corrupt compressed undo log: " + e.getMessage());
        } finally {
            inflater.end();
        }
    }

    private static byte[] toJson(List<UndoRecord> records) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(512);
        try (JsonGenerator g = JSON.createGenerator(ObjectWriteContext.empty(), out)) {
            g.writeStartObject();
            g.writeNumberProperty("v", VERSION);
            g.writeName("records");
            g.writeStartArray();
            for (UndoRecord r : records) {
                g.writeStartObject();
                g.writeStringProperty("op", r.op().name());
                g.writeStringProperty("schema", r.schema());
                g.writeStringProperty("table", r.table());
                g.writeName("columns");
                g.writeStartArray();
                for (ColumnMeta c : r.columns()) {
                    g.writeStartObject();
                    g.writeStringProperty("name", c.name());
                    g.writeStringProperty("type", c.type().getName());
                    if (c.sqlType() != null) {
                        g.writeStringProperty("sqlType", c.sqlType());
                    }
                    if (c.generated()) {
                        g.writeBooleanProperty("generated", true);
                    }
                    g.writeEndObject();
                }
                g.writeEndArray();
                g.writeName("pk");
                g.writeStartArray();
                for (String k : r.primaryKey()) {
                    g.writeString(k);
                }
                g.writeEndArray();
                writeRows(g, "before", r.before());
                writeRows(g, "after", r.after());
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        }
        return out.toByteArray();
    }

    private static void writeRows(JsonGenerator g, String name, List<String[]> rows) {
        g.writeName(name);
        g.writeStartArray();
        for (String[] row : rows) {
            g.writeStartArray();
            for (String v : row) {
                if (v == null) {
                    g.writeNull();
                } else {
                    g.writeString(v);
                }
            }
            g.writeEndArray();
        }
        g.writeEndArray();
    }

    private static List<UndoRecord> fromJson(byte[] json) {
        try (JsonParser p = JSON.createParser(ObjectReadContext.empty(), json)) {
            expect(p.nextToken(), JsonToken.START_OBJECT);
            Integer version = null;
            List<UndoRecord> records = null;
            while (p.nextToken() == JsonToken.PROPERTY_NAME) {
                String field = p.currentName();
                JsonToken t = p.nextToken();
                switch (field) {
                    case "v" -> version = p.getIntValue();
                    case "records" -> {
                        expect(t, JsonToken.START_ARRAY);
                        records = new ArrayList<>();
                        while (p.nextToken() == JsonToken.START_OBJECT) {
                            records.add(readRecord(p));
                        }
                    }
                    default -> p.skipChildren();
                }
            }
            if (version == null || (version != VERSION && version != VERSION_1)) {
                throw new UndoFormatException("undo log format version " + version + " is neither " + VERSION
                        + " nor " + VERSION_1 + "; was it written by a newer Cohort?");
            }
            if (records == null) {
                throw new UndoFormatException("undo log has no records");
            }
            return version == VERSION_1 ? fromVersion1(records) : records;
        }
    }

    private static UndoRecord readRecord(JsonParser p) {
        String op = null;
        String schema = null;
        String table = null;
        List<ColumnMeta> columns = new ArrayList<>();
        List<String> pk = new ArrayList<>();
        List<String[]> before = new ArrayList<>();
        List<String[]> after = new ArrayList<>();
        while (p.nextToken() == JsonToken.PROPERTY_NAME) {
            String field = p.currentName();
            JsonToken t = p.nextToken();
            switch (field) {
                case "op" -> op = p.getString();
                case "schema" -> schema = t == JsonToken.VALUE_NULL ? null : p.getString();
                case "table" -> table = p.getString();
                case "columns" -> {
                    expect(t, JsonToken.START_ARRAY);
                    while (p.nextToken() == JsonToken.START_OBJECT) {
                        String name = null;
                        String type = null;
                        String sqlType = null;
                        boolean generated = false;
                        while (p.nextToken() == JsonToken.PROPERTY_NAME) {
                            String f = p.currentName();
                            p.nextToken();
                            switch (f) {
                                case "name" -> name = p.getString();
                                case "type" -> type = p.getString();
                                case "sqlType" -> sqlType = p.getString();
                                case "generated" -> generated = p.getBooleanValue();
                                default -> p.skipChildren();
                            }
                        }
                        if (name == null || type == null) {
                            throw new UndoFormatException("undo log column without name or type");
                        }
                        columns.add(new ColumnMeta(name, JDBCType.valueOf(type), sqlType, generated));
                    }
                }
                case "pk" -> {
                    expect(t, JsonToken.START_ARRAY);
                    while (p.nextToken() == JsonToken.VALUE_STRING) {
                        pk.add(p.getString());
                    }
                }
                case "before" -> readRows(p, t, columns.size(), before);
                case "after" -> readRows(p, t, columns.size(), after);
                default -> p.skipChildren();
            }
        }
        if (op == null || table == null || columns.isEmpty() || pk.isEmpty()) {
            throw new UndoFormatException("undo log record lacks op, table, columns or primary key");
        }
        return new UndoRecord(UndoRecord.Op.valueOf(op), schema, table, columns, pk, before, after);
    }

    /** Version 1 wrote bytea as base64: the database's hex text instead, the one form values have now. */
    private static List<UndoRecord> fromVersion1(List<UndoRecord> records) {
        List<UndoRecord> out = new ArrayList<>(records.size());
        for (UndoRecord r : records) {
            List<ColumnMeta> columns = r.columns();
            out.add(new UndoRecord(r.op(), r.schema(), r.table(), columns, r.primaryKey(), hexBytea(columns, r.before()),
                    hexBytea(columns, r.after())));
        }
        return out;
    }

    private static List<String[]> hexBytea(List<ColumnMeta> columns, List<String[]> rows) {
        List<String[]> out = new ArrayList<>(rows.size());
        for (String[] row : rows) {
            String[] copy = row.clone();
            for (int i = 0; i < copy.length; i++) {
                if (copy[i] != null && columns.get(i).type() == JDBCType.BINARY) {
                    copy[i] = "\\x" + HexFormat.of().formatHex(Base64.getDecoder().decode(copy[i]));
                }
            }
            out.add(copy);
        }
        return out;
    }

    private static void readRows(JsonParser p, JsonToken t, int width, List<String[]> rows) {
        expect(t, JsonToken.START_ARRAY);
        while (p.nextToken() == JsonToken.START_ARRAY) {
            String[] row = new String[width];
            int i = 0;
            JsonToken v;
            while ((v = p.nextToken()) != JsonToken.END_ARRAY) {
                if (i >= width) {
                    throw new UndoFormatException("undo log row has more values than columns");
                }
                row[i++] = v == JsonToken.VALUE_NULL ? null : p.getString();
            }
            if (i != width) {
                throw new UndoFormatException("undo log row has " + i + " values for " + width + " columns");
            }
            rows.add(row);
        }
    }

    private static void expect(JsonToken actual, JsonToken expected) {
        if (actual != expected) {
            throw new UndoFormatException("undo log: expected " + expected + " but found " + actual);
        }
    }
}
