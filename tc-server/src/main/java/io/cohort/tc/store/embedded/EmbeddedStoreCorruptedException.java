package io.cohort.tc.store.embedded;

import java.nio.file.Path;

/**
 * The data directory holds damage that is not a torn last write, so the store refuses to start
 * instead of silently dropping acknowledged records. The message names the file, the offset and
 * what an operator can do.
 */
public class EmbeddedStoreCorruptedException extends IllegalStateException {

    private final transient Path file;
    private final long offset;

    public EmbeddedStoreCorruptedException(Path file, long offset, String message) {
        super(message);
        this.file = file;
        this.offset = offset;
    }

    public Path file() {
        return file;
    }

    public long offset() {
        return offset;
    }
}
