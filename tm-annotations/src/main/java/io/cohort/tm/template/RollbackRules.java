package io.cohort.tm.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Which exceptions roll a global transaction back. The rule whose class is closest to the thrown
 * exception's class (fewest superclass steps) wins, as in Spring's {@code @Transactional}; with no
 * matching rule <b>every exception rolls back, checked ones too</b> — unlike {@code @Transactional}.
 *
 * <p>Why: an exception escaping the method that began a global transaction means the work spanning
 * several services did not finish as written, and committing whatever branches ran before it is the
 * half-applied outcome a global transaction exists to prevent. The checked exceptions seen here are
 * mostly such failures: {@code SQLException} in plain JDBC (Cohort's own lock conflicts and refused
 * registrations among them), {@code IOException} from a call to the next service, whose outcome is
 * unknown. A business exception that must still commit is named in {@code noRollbackFor}.
 * Independently of these rules, the TC refuses to commit a transaction one of whose branches failed.
 */
public final class RollbackRules {

    /** No rules: every exception and error rolls back. */
    public static final RollbackRules DEFAULT = new RollbackRules(List.of(), List.of());

    private final List<Class<? extends Throwable>> rollbackFor;
    private final List<Class<? extends Throwable>> noRollbackFor;

    private RollbackRules(List<Class<? extends Throwable>> rollbackFor, List<Class<? extends Throwable>> noRollbackFor) {
        this.rollbackFor = rollbackFor;
        this.noRollbackFor = noRollbackFor;
    }

    /** @throws IllegalArgumentException when a class is listed both ways (the outcome would be ambiguous) */
    public static RollbackRules of(List<Class<? extends Throwable>> rollbackFor,
                                   List<Class<? extends Throwable>> noRollbackFor) {
        for (Class<? extends Throwable> c : rollbackFor) {
            if (noRollbackFor.contains(c)) {
                throw new IllegalArgumentException(c.getName() + " is in both rollbackFor and noRollbackFor");
            }
        }
        if (rollbackFor.isEmpty() && noRollbackFor.isEmpty()) {
            return DEFAULT;
        }
        return new RollbackRules(List.copyOf(rollbackFor), List.copyOf(noRollbackFor));
    }

    public boolean shouldRollback(Throwable thrown) {
        for (Class<?> level = thrown.getClass(); level != null && level != Object.class; level = level.getSuperclass()) {
            if (rollbackFor.contains(level)) {
                return true;
            }
            if (noRollbackFor.contains(level)) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        rollbackFor.forEach(c -> parts.add("rollback " + c.getSimpleName()));
        noRollbackFor.forEach(c -> parts.add("commit " + c.getSimpleName()));
        return parts.isEmpty() ? "default rollback rules" : String.join(", ", parts);
    }
}
