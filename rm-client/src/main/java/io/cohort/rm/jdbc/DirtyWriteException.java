package io.cohort.rm.jdbc;

/**
 * Rollback found a row that equals neither the after image (what the branch wrote) nor the before
 * image (what it overwrote): someone changed it outside the global transaction. The rollback is
 * abandoned without touching any data; a person must decide.
 */
class DirtyWriteException extends Exception {

    DirtyWriteException(String evidence) {
        super(evidence);
    }
}
