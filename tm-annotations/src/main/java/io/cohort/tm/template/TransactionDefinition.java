package io.cohort.tm.template;

import io.cohort.tm.CommitProtocol;
import io.cohort.tm.GlobalTransactional;
import io.cohort.tm.Propagation;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;

/**
 * The options of one global transaction, the same as {@link GlobalTransactional}'s. Immutable;
 * start from {@link #named} and refine with the {@code with...} methods.
 *
 * @param name        shown in the TC's API and logs
 * @param timeout     null means {@code cohort.tm.default-timeout}
 * @param propagation how to relate to a global transaction already bound to the thread
 * @param protocol    {@link CommitProtocol#DEFAULT} means {@code cohort.tm.default-protocol}
 * @param rollbackRules which exceptions roll back
 */
public record TransactionDefinition(String name, Duration timeout, Propagation propagation,
                                    CommitProtocol protocol, RollbackRules rollbackRules) {

    public TransactionDefinition {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("A global transaction needs a name");
        }
        if (timeout != null && (timeout.isZero() || timeout.isNegative())) {
            throw new IllegalArgumentException("Timeout of global transaction '" + name + "' must be positive, was " + timeout);
        }
        Objects.requireNonNull(propagation, "propagation");
        Objects.requireNonNull(protocol, "protocol");
        Objects.requireNonNull(rollbackRules, "rollbackRules");
    }

    /** REQUIRED, default timeout and protocol, default rollback rules. */
    public static TransactionDefinition named(String name) {
        return new TransactionDefinition(name, null, Propagation.REQUIRED, CommitProtocol.DEFAULT, RollbackRules.DEFAULT);
    }

    /** The definition an annotation describes; {@code defaultName} is used when its name is empty. */
    public static TransactionDefinition of(GlobalTransactional annotation, String defaultName) {
        long timeoutMs = annotation.timeoutMs();
        if (timeoutMs != GlobalTransactional.DEFAULT_TIMEOUT && timeoutMs <= 0) {
            throw new IllegalArgumentException("@GlobalTransactional(timeoutMs = " + timeoutMs + ") on " + defaultName
                    + " must be positive, or left out for cohort.tm.default-timeout");
        }
        return new TransactionDefinition(
                annotation.name().isEmpty() ? defaultName : annotation.name(),
                timeoutMs == GlobalTransactional.DEFAULT_TIMEOUT ? null : Duration.ofMillis(timeoutMs),
                annotation.propagation(),
                annotation.protocol(),
                RollbackRules.of(Arrays.asList(annotation.rollbackFor()), Arrays.asList(annotation.noRollbackFor())));
    }

    public TransactionDefinition withTimeout(Duration timeout) {
        return new TransactionDefinition(name, timeout, propagation, protocol, rollbackRules);
    }

    public TransactionDefinition withPropagation(Propagation propagation) {
        return new TransactionDefinition(name, timeout, propagation, protocol, rollbackRules);
    }

    public TransactionDefinition withProtocol(CommitProtocol protocol) {
        return new TransactionDefinition(name, timeout, propagation, protocol, rollbackRules);
    }

    public TransactionDefinition withRollbackRules(RollbackRules rollbackRules) {
        return new TransactionDefinition(name, timeout, propagation, protocol, rollbackRules);
    }
}
