package io.cohort.tc.store.embedded;

import io.cohort.protocol.BranchStatus;
import io.cohort.protocol.GlobalStatus;
import io.cohort.protocol.v1.TransactionProtocol;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.ChangeCause;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.model.StatusChange;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The on-disk encoding of {@link LogRecord}s, written by hand so the format is ours to keep stable.
 *
 * <pre>
 * frame   = length:int32  crc:int32  body          (big-endian; length = bytes of body)
 * body    = type:u8  version:u8  payload           (crc = CRC32C of body)
 * payload = fields in declaration order: integers as unsigned LEB128 varints, strings and byte
 *           arrays as varint length + bytes (UTF-8), statuses as their stable codes (u8)
 * </pre>
 *
 * In a log, each group-commit batch is a {@link LogRecord.Batch} frame followed by the frames it
 * counts ({@link LogFiles#readLog}). A reader that meets a record version it does not know refuses
 * to go on rather than guess.
 */
final class RecordCodec {

    static final int FRAME_HEADER_BYTES = 8;
    static final byte FORMAT_VERSION = 1;
    /**
     * Version of the records that carry a status change's cause (Transition and UpdateBranch, which
     * also carries its time from this version) and of History; other records stay at
     * {@link #FORMAT_VERSION}. Version 1 of those two still reads (cause UNKNOWN).
     */
    static final byte CAUSE_VERSION = 2;
    /** No legitimate record comes near this; a larger length field means a damaged frame. */
    static final int MAX_BODY_BYTES = 64 * 1024 * 1024;

    private RecordCodec() {
    }

    // ------------------------------------------------------------------ encoding

    static byte[] encode(LogRecord record) {
        Out out = new Out(128);
        out.skip(FRAME_HEADER_BYTES);
        out.u8(record.type());
        out.u8(versionOf(record.type()));
        if (record instanceof LogRecord.InsertGlobal r) {
            writeGlobal(out, r.tx());
        } else if (record instanceof LogRecord.RegisterBranch r) {
            writeBranch(out, r.branch());
            out.varint(r.newRows().size());
            for (RowKey row : r.newRows()) {
                boolean sameResource = row.resourceId().equals(r.branch().resourceId());
                out.u8(sameResource ? 0 : 1);
                if (!sameResource) {
                    out.string(row.resourceId());
                }
                out.string(row.table());
                out.string(row.pk());
            }
        } else if (record instanceof LogRecord.Transition r) {
            out.string(r.xid());
            out.u8(r.status().code());
            out.string(r.reason());
            out.varint(r.atMs());
            out.u8(r.cause().code());
        } else if (record instanceof LogRecord.Heuristic r) {
            out.string(r.xid());
            out.string(r.evidence());
            out.varint(r.atMs());
        } else if (record instanceof LogRecord.UpdateBranch r) {
            out.string(r.xid());
            out.varint(r.branchId());
            out.u8(r.status().code());
            out.string(r.reason());
            out.varint(r.atMs());
            out.u8(r.cause().code());
        } else if (record instanceof LogRecord.History r) {
            out.string(r.xid());
            out.varint(r.changes().size());
            for (StatusChange c : r.changes()) {
                out.varint(c.atMs());
                out.varint(c.branchId());
                out.string(c.status());
                out.u8(c.cause().code());
                out.string(c.reason());
            }
        } else if (record instanceof LogRecord.ReleaseLocks r) {
            out.string(r.xid());
            writeRows(out, r.rows());
        } else if (record instanceof LogRecord.DeleteBranches r) {
            out.string(r.xid());
        } else if (record instanceof LogRecord.Purge r) {
            out.varint(r.xids().size());
            for (String xid : r.xids()) {
                out.string(xid);
            }
            writeRows(out, r.rows());
        } else if (record instanceof LogRecord.SnapshotLock r) {
            RowLock lock = r.lock();
            writeRow(out, lock.row());
            out.string(lock.xid());
            out.varint(lock.branchId());
            out.varint(lock.acquiredAtMs());
        } else if (record instanceof LogRecord.SnapshotEnd r) {
            out.varint(r.globals());
            out.varint(r.branches());
            out.varint(r.locks());
        } else if (record instanceof LogRecord.Batch r) {
            out.varint(r.records());
            out.varint(r.bytes());
        } else {
            throw new IllegalArgumentException("no encoding for " + record.getClass().getSimpleName());
        }
        return out.frame();
    }

    private static byte versionOf(byte type) {
        return type == LogRecord.TRANSITION || type == LogRecord.UPDATE_BRANCH || type == LogRecord.HISTORY
                ? CAUSE_VERSION : FORMAT_VERSION;
    }

    /** Whether this build reads records of {@code type} written at {@code version}. */
    static boolean isKnown(byte type, byte version) {
        return version == FORMAT_VERSION && type != LogRecord.HISTORY || version == versionOf(type);
    }

    private static void writeGlobal(Out out, GlobalTransaction tx) {
        out.string(tx.xid());
        out.string(tx.name());
        out.string(tx.applicationId());
        out.u8(tx.protocol() == null || tx.protocol() == TransactionProtocol.UNRECOGNIZED ? 0 : tx.protocol().getNumber());
        out.u8(tx.status().code());
        out.varint(tx.beginTimeMs());
        out.varint(tx.timeoutMs());
        out.string(tx.heuristicEvidence());
        out.string(tx.reason());
        out.varint(tx.updatedAtMs());
    }

    private static void writeBranch(Out out, Branch b) {
        out.string(b.xid());
        out.varint(b.branchId());
        out.string(b.resourceId());
        out.string(b.clientId());
        out.varint(b.lockKeys().size());
        for (String key : b.lockKeys()) {
            out.string(key);
        }
        out.bytes(b.applicationData());
        out.u8(b.status().code());
        out.varint(b.registeredAtMs());
        out.string(b.reason());
    }

    private static void writeRows(Out out, List<RowKey> rows) {
        out.varint(rows.size());
        for (RowKey row : rows) {
            writeRow(out, row);
        }
    }

    private static void writeRow(Out out, RowKey row) {
        out.string(row.resourceId());
        out.string(row.table());
        out.string(row.pk());
    }

    // ------------------------------------------------------------------ decoding

    /**
     * Decodes one body (type, version, payload). Throws {@link IllegalArgumentException} for a body
     * whose CRC was right but whose content is not a record this version understands.
     */
    static LogRecord decode(ByteBuffer body) {
        In in = new In(body);
        byte type = body.get();
        byte version = body.get();
        if (!isKnown(type, version)) {
            throw new IllegalArgumentException("record format version " + version + " of record type " + type
                    + " is not supported (this build reads version " + FORMAT_VERSION + ", and " + CAUSE_VERSION
                    + " for status changes); was the directory written by a newer Cohort?");
        }
        boolean withCause = version == CAUSE_VERSION;
        LogRecord record = switch (type) {
            case LogRecord.INSERT_GLOBAL -> new LogRecord.InsertGlobal(readGlobal(in));
            case LogRecord.REGISTER_BRANCH -> {
                Branch branch = readBranch(in);
                int n = in.count();
                List<RowKey> rows = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    String resource = in.u8() == 0 ? branch.resourceId() : in.string();
                    rows.add(new RowKey(resource, in.string(), in.string()));
                }
                yield new LogRecord.RegisterBranch(branch, rows);
            }
            case LogRecord.TRANSITION -> new LogRecord.Transition(in.string(), GlobalStatus.ofCode(in.u8()),
                    in.string(), in.varint(), withCause ? ChangeCause.ofCode(in.u8()) : ChangeCause.UNKNOWN);
            case LogRecord.HEURISTIC -> new LogRecord.Heuristic(in.string(), in.string(), in.varint());
            case LogRecord.UPDATE_BRANCH -> new LogRecord.UpdateBranch(in.string(), in.varint(),
                    BranchStatus.ofCode(in.u8()), in.string(), withCause ? in.varint() : -1,
                    withCause ? ChangeCause.ofCode(in.u8()) : ChangeCause.UNKNOWN);
            case LogRecord.HISTORY -> {
                String xid = in.string();
                int n = in.count();
                List<StatusChange> changes = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    changes.add(new StatusChange(in.varint(), in.varint(), in.string(), ChangeCause.ofCode(in.u8()),
                            in.string()));
                }
                yield new LogRecord.History(xid, changes);
            }
            case LogRecord.RELEASE_LOCKS -> new LogRecord.ReleaseLocks(in.string(), readRows(in));
            case LogRecord.DELETE_BRANCHES -> new LogRecord.DeleteBranches(in.string());
            case LogRecord.PURGE -> {
                int n = in.count();
                List<String> xids = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    xids.add(in.string());
                }
                yield new LogRecord.Purge(xids, readRows(in));
            }
            case LogRecord.SNAPSHOT_LOCK -> new LogRecord.SnapshotLock(new RowLock(readRow(in), in.string(),
                    in.varint(), in.varint()));
            case LogRecord.SNAPSHOT_END -> new LogRecord.SnapshotEnd(in.varint(), in.varint(), in.varint());
            case LogRecord.BATCH -> new LogRecord.Batch(in.nonNegativeInt(), in.nonNegativeInt());
            default -> throw new IllegalArgumentException("unknown record type " + type);
        };
        if (body.hasRemaining()) {
            throw new IllegalArgumentException(body.remaining() + " unexpected bytes after a record of type " + type);
        }
        return record;
    }

    private static GlobalTransaction readGlobal(In in) {
        String xid = in.string();
        String name = in.string();
        String app = in.string();
        int protocolNumber = in.u8();
        TransactionProtocol protocol = TransactionProtocol.forNumber(protocolNumber);
        if (protocol == null) {
            throw new IllegalArgumentException("unknown transaction protocol " + protocolNumber);
        }
        GlobalStatus status = GlobalStatus.ofCode(in.u8());
        long begin = in.varint();
        long timeout = in.varint();
        String heuristicEvidence = in.string();
        String reason = in.string();
        long updated = in.varint();
        return new GlobalTransaction(xid, name, app, protocol, status, begin, timeout, heuristicEvidence, reason,
                updated);
    }

    private static Branch readBranch(In in) {
        String xid = in.string();
        long id = in.varint();
        String resource = in.string();
        String client = in.string();
        int n = in.count();
        List<String> keys = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            keys.add(in.string());
        }
        byte[] data = in.bytes();
        BranchStatus status = BranchStatus.ofCode(in.u8());
        long registered = in.varint();
        String reason = in.string();
        return new Branch(xid, id, resource, client, keys, data, status, registered, reason);
    }

    private static List<RowKey> readRows(In in) {
        int n = in.count();
        List<RowKey> rows = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            rows.add(readRow(in));
        }
        return rows;
    }

    private static RowKey readRow(In in) {
        return new RowKey(in.string(), in.string(), in.string());
    }

    static int crc(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }

    static int crc(ByteBuffer body) {
        CRC32C crc = new CRC32C();
        crc.update(body.duplicate());
        return (int) crc.getValue();
    }

    /** A growable byte array; {@link #frame()} fills in length and CRC. */
    static final class Out {
        private byte[] buf;
        private int len;

        Out(int capacity) {
            buf = new byte[capacity];
        }

        private void ensure(int extra) {
            if (len + extra > buf.length) {
                buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + extra));
            }
        }

        void skip(int n) {
            ensure(n);
            len += n;
        }

        void u8(int v) {
            ensure(1);
            buf[len++] = (byte) v;
        }

        void varint(long v) {
            ensure(10);
            while ((v & ~0x7FL) != 0) {
                buf[len++] = (byte) ((v & 0x7F) | 0x80);
                v >>>= 7;
            }
            buf[len++] = (byte) v;
        }

        void bytes(byte[] b) {
            varint(b.length);
            ensure(b.length);
            System.arraycopy(b, 0, buf, len, b.length);
            len += b.length;
        }

        void string(String s) {
            bytes(s.getBytes(StandardCharsets.UTF_8));
        }

        byte[] frame() {
            int bodyLength = len - FRAME_HEADER_BYTES;
            int crc = crc(buf, FRAME_HEADER_BYTES, bodyLength);
            ByteBuffer.wrap(buf, 0, FRAME_HEADER_BYTES).putInt(bodyLength).putInt(crc);
            return len == buf.length ? buf : Arrays.copyOf(buf, len);
        }
    }

    /** Reads the payload; any malformed field becomes an {@link IllegalArgumentException}. */
    private static final class In {
        private final ByteBuffer buf;

        In(ByteBuffer buf) {
            this.buf = buf;
        }

        int u8() {
            return buf.get() & 0xFF;
        }

        long varint() {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                byte b = buf.get();
                v |= (long) (b & 0x7F) << shift;
                if (b >= 0) {
                    return v;
                }
            }
            throw new IllegalArgumentException("varint longer than 10 bytes");
        }

        int count() {
            long n = varint();
            if (n < 0 || n > buf.remaining()) {
                throw new IllegalArgumentException("length " + n + " exceeds the " + buf.remaining() + " bytes left");
            }
            return (int) n;
        }

        int nonNegativeInt() {
            long v = varint();
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("value " + v + " out of range");
            }
            return (int) v;
        }

        byte[] bytes() {
            byte[] b = new byte[count()];
            buf.get(b);
            return b;
        }

        String string() {
            int n = count();
            String s = new String(buf.array(), buf.arrayOffset() + buf.position(), n, StandardCharsets.UTF_8);
            buf.position(buf.position() + n);
            return s;
        }
    }
}
