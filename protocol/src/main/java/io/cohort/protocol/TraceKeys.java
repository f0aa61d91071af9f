package io.cohort.protocol;

/**
 * Names of Cohort's observations (Micrometer Observation: spans when Boot's tracing is on, timers
 * when a meter handler is registered) and of their key values, the same in the TM, the RM and the TC.
 *
 * <p>Low-cardinality keys take a bounded set of values and become metric tags: the operation, the
 * branch action, the resource id (one per database), the transaction's name (one per
 * {@code @GlobalTransactional} method), the outcome. High-cardinality keys are new for every
 * transaction and go on spans only: the XID and the branch id.
 */
public final class TraceKeys {

    /** TM: one global transaction, from begin to the answer to commit or rollback. */
    public static final String GLOBAL_TRANSACTION = "cohort.global.transaction";
    /** TM or RM: one call to the TC (begin, commit, rollback, registerBranch, ...). */
    public static final String TC_CALL = "cohort.tc.call";
    /** TC: one request from a TM or RM, served. */
    public static final String TC_REQUEST = "cohort.tc.request";
    /** TC: one phase-2 (or 3PC) command sent to a branch's RM, until its answer. */
    public static final String TC_BRANCH_COMMAND = "cohort.tc.branch.command";
    /** RM: phase 1 of a branch, registration, undo log and local commit. */
    public static final String RM_BRANCH_COMMIT = "cohort.rm.branch.local.commit";
    /** RM: one phase-2 (or 3PC) command handled. */
    public static final String RM_BRANCH_COMMAND = "cohort.rm.branch.command";

    // Low cardinality.
    public static final String OPERATION = "cohort.operation";
    public static final String ACTION = "cohort.branch.action";
    public static final String RESOURCE_ID = "cohort.resource.id";
    public static final String TRANSACTION_NAME = "cohort.transaction.name";
    public static final String OUTCOME = "cohort.outcome";

    // High cardinality.
    public static final String XID = "cohort.xid";
    public static final String BRANCH_ID = "cohort.branch.id";

    /** Value of a key not known (yet): no XID before begin answered, no branch id before registration. */
    public static final String NONE = "none";

    private TraceKeys() {
    }
}
