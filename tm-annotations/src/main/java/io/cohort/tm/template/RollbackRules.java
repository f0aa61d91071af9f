package io.cohort.tm.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Which exceptions roll a global transaction back, with Spring's {@code @Transactional} semantics:
 * the rule whose class is closest to the thrown exception's class (fewest superclass steps) wins;
 * with no rule, {@link RuntimeException} and {@link Error} roll back and checked exceptions commit.
 */
public final class RollbackRules {

    /** No rules: RuntimeException and Error roll back, checked exceptions commit. */
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
        return thrown instanceof RuntimeException || thrown instanceof Error;
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        rollbackFor.forEach(c -> parts.add("rollback " + c.getSimpleName()));
        noRollbackFor.forEach(c -> parts.add("commit " + c.getSimpleName()));
        return parts.isEmpty() ? "default rollback rules" : String.join(", ", parts);
    }
}
