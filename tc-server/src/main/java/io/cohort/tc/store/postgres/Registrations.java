package io.cohort.tc.store.postgres;

import io.cohort.protocol.GlobalStatus;
import io.cohort.tc.model.Branch;
import io.cohort.tc.model.GlobalTransaction;
import io.cohort.tc.model.RowKey;
import io.cohort.tc.model.RowLock;
import io.cohort.tc.store.RegisterResult;
import io.cohort.tc.store.StoreUnavailableException;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The branch registrations of one {@link GroupCommit} batch, in the batch's transaction. Each gets
 * its own answer, as if they had run one after the other in queue order:
 *
 * <ol>
 * <li>One statement share-locks the global rows of all of them (a concurrent decision waits for the
 *     batch, or the batch sees it), inserts the branch rows of those in BEGIN (for a branch id
 *     stored already, see {@link Sql#register}) and every wanted row lock with
 *     {@code ON CONFLICT DO NOTHING}, in lock order and, for one row, in queue order: of
 *     two registrations that want the same free row, the earlier gets it. It returns the statuses
 *     and the locks it inserted.</li>
 * <li>A row it did not insert is held by someone: a lock committed before (one query for all such
 *     rows finds the holders) or one this batch just inserted for an earlier registration.</li>
 * <li>In queue order, a registration is refused with {@code Conflict} when another XID holds one of
 *     its rows, and stored otherwise. A registration that waited only on an earlier one of the batch
 *     which was itself refused tries again in a next round, once the refused one's locks are gone:
 *     the first registration of a round never waits on another of the round, so every round settles
 *     at least one.</li>
 * <li>The branch rows and locks the statement inserted for the refused are deleted again.</li>
 * </ol>
 *
 * <p>Without conflicts that is one statement for every registration of the batch together, and one
 * more when some registrations are of transactions another replica holds in memory (it learns of
 * them through {@code changes}, see {@link OwnedTransactions}).
 */
final class Registrations {

    /** Rounds after which registrations still waiting on each other fail (another replica keeps changing the rows). */
    static final int MAX_ROUNDS = 20;

    private static final Comparator<RowKey> LOCK_ORDER = Comparator.comparing(RowKey::resourceId)
            .thenComparing(RowKey::table).thenComparing(RowKey::pk);

    private enum Outcome { STORED, REFUSED, AGAIN }

    /** A registration's state within the batch. */
    private static final class Reg {
        final GroupCommit.Register write;
        final Branch branch;
        final Set<RowKey> rows;
        Outcome outcome;

        Reg(GroupCommit.Register write) {
            this.write = write;
            this.branch = write.branch;
            TreeSet<RowKey> sorted = new TreeSet<>(LOCK_ORDER);
            sorted.addAll(write.rows);
            this.rows = sorted;
        }
    }

    /**
     * Runs the registrations of {@code writes}. Without {@code idsMayBeStored} a branch id already
     * stored fails the whole statement with SQLState 23505 (see {@link Sql#register}): the caller
     * rolls back and runs the batch again with it.
     */
    static void run(Connection c, List<GroupCommit.Register> writes, GroupCommit.Owner owner, boolean idsMayBeStored)
            throws SQLException {
        if (writes.isEmpty()) {
            return;
        }
        create(c, writes, owner);
        List<Reg> pending = new ArrayList<>();
        Set<Long> ids = new HashSet<>();
        for (GroupCommit.Register w : writes) {
            if (ids.add(w.branch.branchId())) {
                pending.add(new Reg(w));
            } else {
                w.result = new RegisterResult.DuplicateBranch(); // an RM chose one id twice: the batch keys on ids
            }
        }
        Set<String> foreign = new TreeSet<>();
        for (GroupCommit.Register w : writes) {
            if (w.foreign && !w.created) { // this replica holds what it created
                foreign.add(w.xid());
            }
        }
        String sql = Sql.register(!foreign.isEmpty(), idsMayBeStored);
        List<Reg> stored = new ArrayList<>();
        for (int round = 1; !pending.isEmpty(); round++) {
            if (round > MAX_ROUNDS) {
                for (Reg r : pending) {
                    r.write.failure = new StoreUnavailableException(GroupCommit.where(r.write) + " failed: its rows"
                            + " kept changing hands for " + MAX_ROUNDS + " rounds; try again");
                }
                break;
            }
            pending = round(c, sql, pending, stored);
        }
        if (!foreign.isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement(Sql.COUNT_FOREIGN_CHANGES)) {
                ps.setArray(1, c.createArrayOf("text", foreign.toArray()));
                ps.executeUpdate();
            }
        }
    }

    /**
     * Creates, in the batch's transaction, the transactions that registrations of TM-made XIDs carry
     * (the first write of each XID in queue order), unless they exist: one statement, in XID order.
     */
    private static void create(Connection c, List<GroupCommit.Register> writes, GroupCommit.Owner owner)
            throws SQLException {
        Map<String, GroupCommit.Register> first = new TreeMap<>();
        for (GroupCommit.Register w : writes) {
            if (w.create != null) {
                first.putIfAbsent(w.xid(), w);
            }
        }
        if (first.isEmpty()) {
            return;
        }
        int n = first.size();
        String[] xids = new String[n];
        String[] names = new String[n];
        String[] applications = new String[n];
        Short[] protocols = new Short[n];
        Short[] statuses = new Short[n];
        Long[] begins = new Long[n];
        Long[] timeouts = new Long[n];
        String[] evidence = new String[n];
        String[] reasons = new String[n];
        Long[] updated = new Long[n];
        int i = 0;
        for (GroupCommit.Register w : first.values()) {
            GlobalTransaction tx = w.create;
            xids[i] = tx.xid();
            names[i] = tx.name();
            applications[i] = tx.applicationId();
            protocols[i] = (short) tx.protocol().getNumber();
            statuses[i] = (short) tx.status().code();
            begins[i] = tx.beginTimeMs();
            timeouts[i] = tx.timeoutMs();
            evidence[i] = tx.heuristicEvidence();
            reasons[i] = tx.reason();
            updated[i++] = tx.updatedAtMs();
        }
        try (PreparedStatement ps = c.prepareStatement(Sql.CREATE_GLOBALS)) {
            int p = 1;
            ps.setString(p++, owner.replicaId());
            ps.setLong(p++, owner.leaseMs());
            ps.setArray(p++, c.createArrayOf("text", xids));
            ps.setArray(p++, c.createArrayOf("text", names));
            ps.setArray(p++, c.createArrayOf("text", applications));
            ps.setArray(p++, c.createArrayOf("smallint", protocols));
            ps.setArray(p++, c.createArrayOf("smallint", statuses));
            ps.setArray(p++, c.createArrayOf("bigint", begins));
            ps.setArray(p++, c.createArrayOf("bigint", timeouts));
            ps.setArray(p++, c.createArrayOf("text", evidence));
            ps.setArray(p++, c.createArrayOf("text", reasons));
            ps.setArray(p, c.createArrayOf("bigint", updated));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    first.get(rs.getString(1)).created = true;
                }
            }
        }
    }

    /** One round; answers the registrations that must try again. */
    private static List<Reg> round(Connection c, String sql, List<Reg> regs, List<Reg> stored) throws SQLException {
        Map<String, GlobalStatus> statuses = new HashMap<>();
        Map<RowKey, Long> inserted = new HashMap<>();
        Set<Long> insertedBranches = new HashSet<>();
        register(c, sql, regs, statuses, inserted, insertedBranches);

        Map<Long, Reg> byBranch = new HashMap<>();
        Set<RowKey> heldBefore = new LinkedHashSet<>();
        for (Reg r : regs) {
            byBranch.put(r.branch.branchId(), r);
            if (statuses.get(r.branch.xid()) == GlobalStatus.BEGIN) {
                for (RowKey row : r.rows) {
                    if (!inserted.containsKey(row)) {
                        heldBefore.add(row);
                    }
                }
            }
        }
        Map<RowKey, RowLock> holders = heldBefore.isEmpty() ? Map.of() : holders(c, heldBefore);

        List<Reg> again = new ArrayList<>();
        for (Reg r : regs) {
            GlobalStatus status = statuses.get(r.branch.xid());
            if (status == null) {
                r.outcome = Outcome.REFUSED;
                r.write.result = new RegisterResult.UnknownXid();
                continue;
            }
            if (status != GlobalStatus.BEGIN) {
                r.outcome = Outcome.REFUSED;
                r.write.result = new RegisterResult.NotActive(status);
                continue;
            }
            if (!insertedBranches.contains(r.branch.branchId())) {
                r.outcome = Outcome.REFUSED; // its id is stored already: the row is not ours to delete
                r.write.result = new RegisterResult.DuplicateBranch();
                continue;
            }
            RowLock conflict = null;
            boolean waits = false;
            for (RowKey row : r.rows) {
                Long by = inserted.get(row);
                if (by != null) {
                    if (by == r.branch.branchId()) {
                        continue;
                    }
                    Reg earlier = byBranch.get(by); // earlier in the queue: it won the row
                    if (earlier.outcome != Outcome.STORED) {
                        waits = true; // the row is free again once the earlier one's locks are gone
                    } else if (!earlier.branch.xid().equals(r.branch.xid())) {
                        conflict = new RowLock(row, earlier.branch.xid(), by, earlier.branch.registeredAtMs());
                        break;
                    }
                    continue;
                }
                RowLock holder = holders.get(row);
                if (holder == null) {
                    waits = true; // released after the insert saw it: insert again
                } else if (!holder.xid().equals(r.branch.xid())) {
                    conflict = holder;
                    break;
                }
            }
            if (conflict != null) {
                r.outcome = Outcome.REFUSED;
                r.write.result = new RegisterResult.Conflict(conflict);
            } else if (waits) {
                r.outcome = Outcome.AGAIN;
                again.add(r);
            } else {
                r.outcome = Outcome.STORED;
                r.write.result = new RegisterResult.Registered(r.branch.branchId());
                stored.add(r);
            }
        }
        List<RowKey> undoRows = new ArrayList<>();
        List<Long> undoBranches = new ArrayList<>();
        inserted.forEach((row, branchId) -> {
            if (byBranch.get(branchId).outcome != Outcome.STORED) {
                undoRows.add(row);
                undoBranches.add(branchId);
            }
        });
        if (!undoRows.isEmpty()) {
            unlock(c, undoRows, undoBranches);
        }
        List<Long> undoneBranches = new ArrayList<>();
        for (Reg r : regs) {
            if (r.outcome != Outcome.STORED && insertedBranches.contains(r.branch.branchId())) {
                undoneBranches.add(r.branch.branchId()); // its branch row went in with the statement
            }
        }
        if (!undoneBranches.isEmpty()) {
            try (PreparedStatement ps = c.prepareStatement(Sql.DELETE_BATCH_BRANCHES)) {
                ps.setArray(1, c.createArrayOf("bigint", undoneBranches.toArray()));
                ps.executeUpdate();
            }
        }
        return again;
    }

    /** The statement: statuses (share-locked), branch rows, and the row locks it could insert. */
    private static void register(Connection c, String sql, List<Reg> regs, Map<String, GlobalStatus> statuses,
                                 Map<RowKey, Long> inserted, Set<Long> insertedBranches) throws SQLException {
        Set<String> xids = new TreeSet<>();
        int n = 0;
        for (Reg r : regs) {
            xids.add(r.branch.xid());
            n += r.rows.size();
        }
        int m = regs.size();
        String[] bXid = new String[m];
        Long[] bId = new Long[m];
        String[] bResource = new String[m];
        String[] bClient = new String[m];
        String[] bKeys = new String[m];
        String[] bData = new String[m];
        Short[] bStatus = new Short[m];
        Long[] bAt = new Long[m];
        String[] bReason = new String[m];
        String[] resources = new String[n];
        String[] tables = new String[n];
        String[] pks = new String[n];
        String[] owners = new String[n];
        Long[] branches = new Long[n];
        Long[] times = new Long[n];
        int i = 0;
        int j = 0;
        for (Reg r : regs) {
            Branch b = r.branch;
            bXid[j] = b.xid();
            bId[j] = b.branchId();
            bResource[j] = b.resourceId();
            bClient[j] = b.clientId();
            bKeys[j] = arrayLiteral(b.lockKeys());
            bData[j] = b.applicationData() == null ? "" : HexFormat.of().formatHex(b.applicationData());
            bStatus[j] = (short) b.status().code();
            bAt[j] = b.registeredAtMs();
            bReason[j++] = b.reason();
            for (RowKey row : r.rows) {
                resources[i] = row.resourceId();
                tables[i] = row.table();
                pks[i] = row.pk();
                owners[i] = b.xid();
                branches[i] = b.branchId();
                times[i++] = b.registeredAtMs(); // a lock is taken when its branch registers
            }
        }
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            int p = 1;
            ps.setArray(p++, c.createArrayOf("text", xids.toArray()));
            ps.setArray(p++, c.createArrayOf("text", bXid));
            ps.setArray(p++, c.createArrayOf("bigint", bId));
            ps.setArray(p++, c.createArrayOf("text", bResource));
            ps.setArray(p++, c.createArrayOf("text", bClient));
            ps.setArray(p++, c.createArrayOf("text", bKeys));
            ps.setArray(p++, c.createArrayOf("text", bData));
            ps.setArray(p++, c.createArrayOf("smallint", bStatus));
            ps.setArray(p++, c.createArrayOf("bigint", bAt));
            ps.setArray(p++, c.createArrayOf("text", bReason));
            ps.setArray(p++, c.createArrayOf("text", resources));
            ps.setArray(p++, c.createArrayOf("text", tables));
            ps.setArray(p++, c.createArrayOf("text", pks));
            ps.setArray(p++, c.createArrayOf("text", owners));
            ps.setArray(p++, c.createArrayOf("bigint", branches));
            ps.setArray(p, c.createArrayOf("bigint", times));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String xid = rs.getString(1);
                    if (xid != null) {
                        statuses.put(xid, GlobalStatus.ofCode(rs.getShort(2)));
                    } else if (rs.getString(3) == null) {
                        insertedBranches.add(rs.getLong(6));
                    } else {
                        inserted.put(new RowKey(rs.getString(3), rs.getString(4), rs.getString(5)), rs.getLong(6));
                    }
                }
            }
        }
    }

    /** {@code {"a","b"}}: a text[] literal, every element quoted. */
    static String arrayLiteral(List<String> values) {
        StringBuilder sb = new StringBuilder("{");
        for (String v : values) {
            if (sb.length() > 1) {
                sb.append(',');
            }
            sb.append('"');
            for (int k = 0; k < v.length(); k++) {
                char ch = v.charAt(k);
                if (ch == '"' || ch == '\\') {
                    sb.append('\\');
                }
                sb.append(ch);
            }
            sb.append('"');
        }
        return sb.append('}').toString();
    }

    private static Map<RowKey, RowLock> holders(Connection c, Set<RowKey> rows) throws SQLException {
        Array[] columns = Rows.columns(c, rows);
        Map<RowKey, RowLock> holders = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement(Sql.FIND_HOLDERS)) {
            ps.setArray(1, columns[0]);
            ps.setArray(2, columns[1]);
            ps.setArray(3, columns[2]);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    RowLock lock = Rows.lock(rs, 1);
                    holders.put(lock.row(), lock);
                }
            }
        }
        return holders;
    }

    private static void unlock(Connection c, List<RowKey> rows, List<Long> branchIds) throws SQLException {
        Array[] columns = Rows.columns(c, rows);
        try (PreparedStatement ps = c.prepareStatement(Sql.DELETE_BATCH_LOCKS)) {
            ps.setArray(1, columns[0]);
            ps.setArray(2, columns[1]);
            ps.setArray(3, columns[2]);
            ps.setArray(4, c.createArrayOf("bigint", branchIds.toArray()));
            ps.executeUpdate();
        }
    }

    private Registrations() {
    }
}
