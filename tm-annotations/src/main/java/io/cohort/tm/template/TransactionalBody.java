package io.cohort.tm.template;

/**
 * The work of a global transaction. {@code E} lets a body throw checked exceptions without the
 * template forcing {@code throws Throwable} on every caller: for a lambda that throws none, the
 * compiler infers {@code RuntimeException}.
 */
@FunctionalInterface
public interface TransactionalBody<T, E extends Throwable> {
    T run() throws E;
}
