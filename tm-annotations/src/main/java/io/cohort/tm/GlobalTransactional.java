package io.cohort.tm;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Runs the method in a global transaction: every JDBC write it makes, here and in the services it
 * calls over HTTP or gRPC, commits or rolls back as one.
 *
 * <p>The method that begins the global transaction asks the TC to commit when it returns and to
 * roll back when it throws — <b>any</b> exception by default, checked ones too (unlike Spring's
 * {@code @Transactional}; see {@link io.cohort.tm.template.RollbackRules} for why), except those
 * {@link #noRollbackFor()} names. Methods that join an existing global transaction never commit or
 * roll back themselves; their exceptions travel to the method that began it. Whatever the rules say,
 * the TC does not commit a global transaction one of whose branches failed in phase 1.
 *
 * <p>On a class (or interface) it applies to every public method; an annotation on a method wins
 * over one on its class. The Spring advisor runs outside Spring's {@code @Transactional}, so a
 * local transaction on the same method has finished before the global decision is asked for.
 * Without Spring, use {@link io.cohort.tm.template.GlobalTransactionTemplate} with the same options.
 */
@Target({ElementType.METHOD, ElementType.TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@Documented
public @interface GlobalTransactional {

    /** Timeout value meaning "use {@code cohort.tm.default-timeout}". */
    long DEFAULT_TIMEOUT = -1;

    /** Name shown in the TC's API and logs; empty means {@code SimpleClassName.methodName}. */
    String name() default "";

    /**
     * Milliseconds after which the TC rolls the global transaction back if it has not been
     * committed; {@link #DEFAULT_TIMEOUT} uses {@code cohort.tm.default-timeout}.
     */
    long timeoutMs() default DEFAULT_TIMEOUT;

    /**
     * Exceptions (and their subclasses) that roll back although a superclass is in
     * {@link #noRollbackFor()}: everything else rolls back anyway.
     */
    Class<? extends Throwable>[] rollbackFor() default {};

    /** Exceptions (and their subclasses) that commit. The rule closest to the thrown class wins. */
    Class<? extends Throwable>[] noRollbackFor() default {};

    Propagation propagation() default Propagation.REQUIRED;

    CommitProtocol protocol() default CommitProtocol.DEFAULT;
}
