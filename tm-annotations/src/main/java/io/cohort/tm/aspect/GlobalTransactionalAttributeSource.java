package io.cohort.tm.aspect;

import io.cohort.tm.GlobalTransactional;
import io.cohort.tm.template.TransactionDefinition;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.springframework.aop.support.AopUtils;
import org.springframework.core.MethodClassKey;
import org.springframework.core.annotation.AnnotatedElementUtils;

/**
 * Finds the {@link GlobalTransactional} that applies to a method call, in this order: on the
 * implementation's method, on the implementation class (public methods only), on the interface
 * (or superclass) method, on the interface (or superclass). So an annotation on an interface works
 * for every implementation, and one on the implementation overrides it. Results are cached.
 */
public final class GlobalTransactionalAttributeSource {

    private final ConcurrentMap<MethodClassKey, Optional<TransactionDefinition>> cache = new ConcurrentHashMap<>();

    /** The definition for calls of {@code method} on an instance of {@code targetClass}, or null if not transactional. */
    public TransactionDefinition find(Method method, Class<?> targetClass) {
        if (method.getDeclaringClass() == Object.class) {
            return null;
        }
        return cache.computeIfAbsent(new MethodClassKey(method, targetClass), k -> Optional.ofNullable(resolve(method, targetClass)))
                .orElse(null);
    }

    private static TransactionDefinition resolve(Method method, Class<?> targetClass) {
        Method specific = targetClass == null ? method : AopUtils.getMostSpecificMethod(method, targetClass);
        Class<?> owner = targetClass != null ? targetClass : specific.getDeclaringClass();
        GlobalTransactional annotation = AnnotatedElementUtils.findMergedAnnotation(specific, GlobalTransactional.class);
        if (annotation == null && Modifier.isPublic(specific.getModifiers())) {
            // findMergedAnnotation on a class also searches its interfaces and superclasses.
            annotation = AnnotatedElementUtils.findMergedAnnotation(owner, GlobalTransactional.class);
            if (annotation == null && method != specific) {
                annotation = AnnotatedElementUtils.findMergedAnnotation(method.getDeclaringClass(), GlobalTransactional.class);
            }
        }
        if (annotation == null) {
            return null;
        }
        return TransactionDefinition.of(annotation, owner.getSimpleName() + "." + method.getName());
    }
}
