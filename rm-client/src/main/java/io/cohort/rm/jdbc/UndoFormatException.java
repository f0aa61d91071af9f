package io.cohort.rm.jdbc;

/** An undo log that cannot be read back: corrupt, from an unknown format version, or too large. */
class UndoFormatException extends RuntimeException {

    UndoFormatException(String message) {
        super(message);
    }
}
