package io.cohort.tm.autoconfigure;

import io.cohort.tm.propagation.XidClientHttpRequestInterceptor;
import io.cohort.tm.propagation.XidExchangeFilterFunction;
import io.cohort.tm.propagation.XidGrpcClientInterceptor;
import io.cohort.tm.propagation.XidGrpcServerInterceptor;
import io.cohort.tm.propagation.XidServletFilter;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.restclient.RestClientCustomizer;
import org.springframework.boot.restclient.RestTemplateCustomizer;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.webclient.WebClientCustomizer;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.Ordered;

/**
 * XID propagation, one configuration per stack, each present only when the application has that
 * stack. Boot-built {@code RestClient}, {@code RestTemplate} and {@code WebClient} get the XID
 * header through customizers; gRPC interceptors are beans for the application to put on its
 * channels and servers (gRPC has no Boot-wide hook).
 */
final class CohortPropagationConfigurations {

    /** Order of the servlet filter: early, so every later filter and the handler see the XID. */
    static final int SERVLET_FILTER_ORDER = Ordered.HIGHEST_PRECEDENCE + 100;

    private CohortPropagationConfigurations() {
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.http.client.ClientHttpRequestInterceptor")
    static class Http {
        @Bean
        @ConditionalOnMissingBean
        XidClientHttpRequestInterceptor cohortXidClientHttpRequestInterceptor() {
            return new XidClientHttpRequestInterceptor();
        }

        /** Static: a post-processor, created before the beans it looks at. */
        @Bean
        static XidClientCheck cohortXidClientCheck() {
            return new XidClientCheck();
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.restclient.RestClientCustomizer")
    static class RestClientSupport {
        @Bean
        RestClientCustomizer cohortXidRestClientCustomizer(XidClientHttpRequestInterceptor interceptor) {
            return builder -> builder.requestInterceptors(list -> {
                if (!list.contains(interceptor)) {
                    list.add(interceptor);
                }
            });
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.restclient.RestTemplateCustomizer")
    static class RestTemplateSupport {
        @Bean
        RestTemplateCustomizer cohortXidRestTemplateCustomizer(XidClientHttpRequestInterceptor interceptor) {
            return restTemplate -> {
                if (!restTemplate.getInterceptors().contains(interceptor)) {
                    restTemplate.getInterceptors().add(interceptor);
                }
            };
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = {"org.springframework.web.reactive.function.client.WebClient",
            "org.springframework.boot.webclient.WebClientCustomizer"})
    static class WebClientSupport {
        @Bean
        @ConditionalOnMissingBean
        XidExchangeFilterFunction cohortXidExchangeFilterFunction() {
            return new XidExchangeFilterFunction();
        }

        @Bean
        WebClientCustomizer cohortXidWebClientCustomizer(XidExchangeFilterFunction filter) {
            return builder -> builder.filters(list -> {
                if (!list.contains(filter)) {
                    list.add(filter);
                }
            });
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
    @ConditionalOnClass(name = {"jakarta.servlet.Filter", "org.springframework.boot.web.servlet.FilterRegistrationBean"})
    static class Servlet {
        @Bean
        @ConditionalOnMissingBean(name = "cohortXidServletFilter")
        FilterRegistrationBean<XidServletFilter> cohortXidServletFilter() {
            FilterRegistrationBean<XidServletFilter> registration = new FilterRegistrationBean<>(new XidServletFilter());
            registration.setName("cohortXidServletFilter");
            registration.setOrder(SERVLET_FILTER_ORDER);
            registration.addUrlPatterns("/*");
            return registration;
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "io.grpc.ClientInterceptor")
    static class Grpc {
        @Bean
        @ConditionalOnMissingBean
        XidGrpcClientInterceptor cohortXidGrpcClientInterceptor() {
            return new XidGrpcClientInterceptor();
        }

        @Bean
        @ConditionalOnMissingBean
        XidGrpcServerInterceptor cohortXidGrpcServerInterceptor() {
            return new XidGrpcServerInterceptor();
        }
    }
}
