package io.cohort.tm.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Which exceptions roll a global transaction back, with Spring's {@code @Transactional} semantics:
 * the rule whose class is closest to the thrown exception's class (fewest superclass steps) wins;
 * with no rule, {@link RuntimeException} and {@link Error} roll back and checked exceptions commit.
 * An interface rule matches at the level of the first class that implements it.
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
            boolean rollback = matches(rollbackFor, level);
            boolean commit = matches(noRollbackFor, level);
            if (rollback != commit) {
                return rollback;
            }
            // Both at one level can only happen through two interfaces; rolling back is the safe side.
            if (rollback) {
                return true;
            }
        }
        return thrown instanceof RuntimeException || thrown instanceof Error;
    }

    private static boolean matches(List<Class<? extends Throwable>> rules, Class<?> level) {
        for (Class<?> rule : rules) {
            if (rule == level || (rule.isInterface() && implementsDirectly(level, rule))) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code level} itself (not its superclass) brings in {@code iface}. */
    private static boolean implementsDirectly(Class<?> level, Class<?> iface) {
        Class<?> parent = level.getSuperclass();
        return iface.isAssignableFrom(level) && (parent == null || !iface.isAssignableFrom(parent));
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        rollbackFor.forEach(c -> parts.add("rollback " + c.getSimpleName()));
        noRollbackFor.forEach(c -> parts.add("commit " + c.getSimpleName()));
        return parts.isEmpty() ? "default rollback rules" : String.join(", ", parts);
    }
}
