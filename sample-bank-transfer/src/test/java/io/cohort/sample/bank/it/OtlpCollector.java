package io.cohort.sample.bank.it;

import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A minimal OTLP/HTTP trace receiver: what the processes' OpenTelemetry exporters POST to
 * {@code /v1/traces} (an {@code ExportTraceServiceRequest} in protobuf) is decoded into {@link Span}s.
 * Only the fields the tests read are decoded, straight from the protobuf wire format.
 */
final class OtlpCollector implements AutoCloseable {

    /** One exported span: ids in lower-case hex, the exporting process's {@code service.name}. */
    record Span(String service, String traceId, String spanId, String parentSpanId, String name,
                Map<String, String> attributes) {
    }

    private final HttpServer server;
    private final List<Span> spans = new CopyOnWriteArrayList<>();

    OtlpCollector() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/v1/traces", exchange -> {
            try (InputStream in = exchange.getRequestBody()) {
                decodeRequest(in.readAllBytes());
                exchange.getResponseHeaders().add("Content-Type", "application/x-protobuf");
                exchange.sendResponseHeaders(200, -1); // an empty ExportTraceServiceResponse
            } catch (RuntimeException e) {
                exchange.sendResponseHeaders(400, -1);
            } finally {
                exchange.close();
            }
        });
        server.start();
    }

    String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/v1/traces";
    }

    List<Span> spans() {
        return List.copyOf(spans);
    }

    private void decodeRequest(byte[] request) {
        for (byte[] resourceSpans : Wire.of(request).bytes(1)) {
            Wire rs = Wire.of(resourceSpans);
            String service = "";
            for (byte[] resource : rs.bytes(1)) {
                service = attributes(Wire.of(resource).bytes(1)).getOrDefault("service.name", "");
            }
            for (byte[] scopeSpans : rs.bytes(2)) {
                for (byte[] span : Wire.of(scopeSpans).bytes(2)) {
                    Wire s = Wire.of(span);
                    spans.add(new Span(service, hex(s.first(1)), hex(s.first(2)), hex(s.first(4)),
                            text(s.first(5)), attributes(s.bytes(9))));
                }
            }
        }
    }

    /** KeyValue {key = 1; AnyValue value = 2 {string_value = 1, ...}}: string values only. */
    private static Map<String, String> attributes(List<byte[]> keyValues) {
        Map<String, String> attributes = new LinkedHashMap<>();
        for (byte[] kv : keyValues) {
            Wire w = Wire.of(kv);
            byte[] value = w.first(2);
            attributes.put(text(w.first(1)), value == null ? "" : text(Wire.of(value).first(1)));
        }
        return attributes;
    }

    private static String hex(byte[] bytes) {
        return bytes == null ? "" : HexFormat.of().formatHex(bytes);
    }

    private static String text(byte[] bytes) {
        return bytes == null ? "" : new String(bytes, StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        server.stop(0);
    }

    /** The length-delimited fields of one protobuf message, by field number; other wire types are skipped. */
    private static final class Wire {
        private final Map<Integer, List<byte[]>> fields = new LinkedHashMap<>();

        static Wire of(byte[] message) {
            Wire w = new Wire();
            int[] pos = {0};
            while (pos[0] < message.length) {
                long tag = varint(message, pos);
                int field = (int) (tag >>> 3);
                switch ((int) (tag & 7)) {
                    case 0 -> varint(message, pos);
                    case 1 -> pos[0] += 8;
                    case 5 -> pos[0] += 4;
                    case 2 -> {
                        int length = (int) varint(message, pos);
                        byte[] value = new byte[length];
                        System.arraycopy(message, pos[0], value, 0, length);
                        pos[0] += length;
                        w.fields.computeIfAbsent(field, f -> new ArrayList<>()).add(value);
                    }
                    default -> throw new IllegalArgumentException("unsupported wire type in tag " + tag);
                }
            }
            return w;
        }

        private static long varint(byte[] b, int[] pos) {
            long value = 0;
            for (int shift = 0; ; shift += 7) {
                byte next = b[pos[0]++];
                value |= (long) (next & 0x7f) << shift;
                if (next >= 0) {
                    return value;
                }
            }
        }

        List<byte[]> bytes(int field) {
            return fields.getOrDefault(field, List.of());
        }

        byte[] first(int field) {
            List<byte[]> values = fields.get(field);
            return values == null ? null : values.get(0);
        }
    }
}
