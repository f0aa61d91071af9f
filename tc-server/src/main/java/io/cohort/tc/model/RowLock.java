package io.cohort.tc.model;

/** A global row lock: who holds the row, since when. */
public record RowLock(RowKey row, String xid, long branchId, long acquiredAtMs) {
}
