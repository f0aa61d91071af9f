package io.cohort.tm.aspect;

import io.cohort.tm.template.GlobalTransactionTemplate;
import io.cohort.tm.template.TransactionDefinition;
import java.util.function.Supplier;
import org.aopalliance.intercept.MethodInterceptor;
import org.aopalliance.intercept.MethodInvocation;
import org.springframework.aop.support.AopUtils;

/**
 * The around advice of {@code @GlobalTransactional}: finds the definition and hands the call to
 * {@link GlobalTransactionTemplate}, which holds all the logic.
 */
public final class GlobalTransactionalInterceptor implements MethodInterceptor {

    private final GlobalTransactionalAttributeSource attributes;
    private final Supplier<GlobalTransactionTemplate> template;

    /** {@code template} is looked up on first use, so the advisor can be created before the TC client. */
    public GlobalTransactionalInterceptor(GlobalTransactionalAttributeSource attributes,
                                          Supplier<GlobalTransactionTemplate> template) {
        this.attributes = attributes;
        this.template = template;
    }

    @Override
    public Object invoke(MethodInvocation invocation) throws Throwable {
        Class<?> targetClass = invocation.getThis() == null ? null : AopUtils.getTargetClass(invocation.getThis());
        TransactionDefinition definition = attributes.find(invocation.getMethod(), targetClass);
        if (definition == null) {
            return invocation.proceed();
        }
        return template.get().execute(definition, invocation::proceed);
    }
}
