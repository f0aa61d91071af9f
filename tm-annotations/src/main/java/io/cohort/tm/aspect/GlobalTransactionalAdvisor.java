package io.cohort.tm.aspect;

import java.lang.reflect.Method;
import org.aopalliance.aop.Advice;
import org.springframework.aop.Pointcut;
import org.springframework.aop.support.AbstractPointcutAdvisor;
import org.springframework.aop.support.StaticMethodMatcherPointcut;
import org.springframework.core.Ordered;

/**
 * Applies {@link GlobalTransactionalInterceptor} to every bean method that has (or inherits)
 * {@code @GlobalTransactional}. A Spring advisor rather than an AspectJ {@code @Around}: AspectJ
 * pointcuts do not see annotations declared on interfaces, and an advisor works with or without
 * AspectJ on the classpath (the same mechanism as Spring's {@code @Transactional}).
 *
 * <p>Order: {@link #DEFAULT_ORDER} ({@code Ordered.LOWEST_PRECEDENCE - 1}) puts the global
 * transaction just outside Spring's {@code @Transactional} (whose default order is
 * {@code LOWEST_PRECEDENCE}), so a local transaction on the same method commits or rolls back
 * before the TM asks the TC for the global decision; and inside advice with a smaller order, such
 * as resilience4j's retry ({@code LOWEST_PRECEDENCE - 4}), so each retry is a fresh global transaction. Change it with {@code cohort.tm.advisor-order}.
 */
public final class GlobalTransactionalAdvisor extends AbstractPointcutAdvisor {

    public static final int DEFAULT_ORDER = Ordered.LOWEST_PRECEDENCE - 1;

    private final transient GlobalTransactionalInterceptor interceptor;
    private final transient Pointcut pointcut;

    public GlobalTransactionalAdvisor(GlobalTransactionalAttributeSource attributes, GlobalTransactionalInterceptor interceptor) {
        this.interceptor = interceptor;
        this.pointcut = new StaticMethodMatcherPointcut() {
            @Override
            public boolean matches(Method method, Class<?> targetClass) {
                return attributes.find(method, targetClass) != null;
            }
        };
        setOrder(DEFAULT_ORDER);
    }

    @Override
    public Pointcut getPointcut() {
        return pointcut;
    }

    @Override
    public Advice getAdvice() {
        return interceptor;
    }
}
