package io.cohort.tm;

/**
 * How a {@link GlobalTransactional} method relates to a global transaction already bound to the
 * thread (by an enclosing method, or by the servlet filter / gRPC interceptor for an incoming call).
 * The names and meanings are Spring's {@code @Transactional} ones.
 */
public enum Propagation {
    /** Join the bound global transaction, or begin one when none is bound. The default. */
    REQUIRED,
    /** Suspend the bound global transaction (if any), begin a new one, and restore the old one afterwards. */
    REQUIRES_NEW,
    /** Join the bound global transaction if there is one; otherwise run without one. */
    SUPPORTS,
    /** Suspend the bound global transaction (if any), run without one, restore it afterwards. */
    NOT_SUPPORTED,
    /** Join the bound global transaction; fail with {@link GlobalTransactionPropagationException} if none is bound. */
    MANDATORY,
    /** Run without a global transaction; fail with {@link GlobalTransactionPropagationException} if one is bound. */
    NEVER
}
