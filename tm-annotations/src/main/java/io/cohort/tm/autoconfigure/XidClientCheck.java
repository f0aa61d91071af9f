package io.cohort.tm.autoconfigure;

import io.cohort.tm.propagation.XidClientHttpRequestInterceptor;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.util.ClassUtils;
import org.springframework.web.client.RestClient;
import org.springframework.web.client.RestTemplate;

/**
 * Warns at start about every {@code RestClient} and {@code RestTemplate} bean that would not carry
 * the {@code Cohort-Xid} header (built with {@code RestClient.create(url)} or {@code new RestTemplate()}
 * instead of Boot's builder): its calls from a {@code @GlobalTransactional} method reach the callee
 * outside the global transaction, and a rollback leaves the callee's writes in place. Clients made
 * inside methods cannot be seen here; callee endpoints marked {@code propagation = MANDATORY}
 * refuse their calls.
 */
final class XidClientCheck implements BeanPostProcessor {

    private static final Logger log = LoggerFactory.getLogger(XidClientCheck.class);
    private static final boolean REST_CLIENT = ClassUtils.isPresent("org.springframework.web.client.RestClient", null);

    @Override
    public Object postProcessAfterInitialization(Object bean, String beanName) {
        if (REST_CLIENT && bean instanceof RestClient client && !carriesXid(client)) {
            warn("RestClient", beanName, "build it from the injected RestClient.Builder (not RestClient.create)");
        } else if (REST_CLIENT && bean instanceof RestTemplate template && template.getInterceptors().stream()
                .noneMatch(XidClientHttpRequestInterceptor.class::isInstance)) {
            warn("RestTemplate", beanName, "build it from the injected RestTemplateBuilder (not new RestTemplate())");
        }
        return bean;
    }

    private static boolean carriesXid(RestClient client) {
        AtomicBoolean found = new AtomicBoolean();
        client.mutate().requestInterceptors(list -> found.set(list.stream()
                .anyMatch(XidClientHttpRequestInterceptor.class::isInstance)));
        return found.get();
    }

    private static void warn(String kind, String beanName, String fix) {
        log.warn("Cohort: {} bean '{}' does not send the Cohort-Xid header, so its calls from a @GlobalTransactional "
                + "method reach the callee outside the global transaction and a rollback leaves the callee's writes: "
                + "{}, or add XidClientHttpRequestInterceptor; mark the callee's endpoint "
                + "@GlobalTransactional(propagation = MANDATORY) so such calls fail", kind, beanName, fix);
    }
}
