package io.cohort.tc.api;

import io.cohort.tc.config.TcProperties;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.time.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.HttpMethod;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.annotation.web.configurers.AbstractHttpConfigurer;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.access.intercept.AuthorizationFilter;
import org.springframework.security.web.firewall.RequestRejectedHandler;

/**
 * Who may use the HTTP port. Everything needs a token except the health probes, and the rules
 * are matched by Spring Security on the normalised path (decoded, path parameters removed), the
 * same path Spring MVC routes on; a path that is not in normal form at all ({@code ;}, {@code //},
 * encoded dots) is refused before routing. Reads need the client or the admin token, changes the
 * admin token. Health details are shown only to a caller with a token. The console's files are
 * open: they hold no data, and the console reads the API with the token its operator signs in with.
 */
@Configuration(proxyBeanMethods = false)
public class ApiSecurity {

    private static final Logger log = LoggerFactory.getLogger(ApiSecurity.class);

    @Bean
    ApiTokens apiTokens(TcProperties properties) {
        ApiTokens tokens = new ApiTokens(properties.auth());
        if (tokens.authenticationOff()) {
            log.warn("Authentication is off (no cohort.tc.auth.token or cohort.tc.auth.admin-token): anyone who can "
                    + "reach the gRPC and HTTP ports can begin, commit and roll back transactions");
        } else if (!tokens.adminTokenConfigured()) {
            log.info("No cohort.tc.auth.admin-token is set: the REST API is read-only");
        }
        return tokens;
    }

    @Bean
    ApiAudit apiAudit(Clock clock) {
        return new ApiAudit(clock);
    }

    @Bean
    SecurityFilterChain apiSecurityFilterChain(HttpSecurity http, ApiTokens tokens, ApiAudit audit) throws Exception {
        http.csrf(AbstractHttpConfigurer::disable) // bearer tokens, no cookies; cross-origin writes are refused by ApiTokenFilter
                .formLogin(AbstractHttpConfigurer::disable)
                .httpBasic(AbstractHttpConfigurer::disable)
                .logout(AbstractHttpConfigurer::disable)
                .requestCache(AbstractHttpConfigurer::disable)
                .sessionManagement(s -> s.sessionCreationPolicy(SessionCreationPolicy.STATELESS))
                // Pages load only their own scripts and styles, and no other site may frame them.
                .headers(headers -> headers.contentSecurityPolicy(csp -> csp.policyDirectives(
                        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")))
                .addFilterBefore(new ApiTokenFilter(tokens, audit), AuthorizationFilter.class)
                .authorizeHttpRequests(rules -> rules
                        // An error page rendered for a request that was already let through.
                        .dispatcherTypeMatchers(DispatcherType.ERROR).permitAll()
                        .requestMatchers(HttpMethod.GET, "/actuator/health", "/actuator/health/**").permitAll()
                        // The console's static files (no data: it reads /api with the token the operator signs in with).
                        .requestMatchers(HttpMethod.GET, "/console", "/console/**").permitAll()
                        .requestMatchers(HttpMethod.GET).hasRole(ApiTokens.Role.CLIENT.name())
                        .requestMatchers(HttpMethod.HEAD).hasRole(ApiTokens.Role.CLIENT.name())
                        .anyRequest().hasRole(ApiTokens.Role.ADMIN.name()))
                .exceptionHandling(e -> e
                        .authenticationEntryPoint((request, response, ex) -> {
                            audit.authenticationFailed(request, "no bearer token");
                            writeUnauthenticated(response);
                        })
                        .accessDeniedHandler((request, response, ex) -> {
                            audit.refused(request, "a change asked with the client token");
                            writeError(response, 403, "FORBIDDEN", tokens.adminTokenConfigured()
                                    ? "This request changes the TC and needs the admin token (cohort.tc.auth.admin-token)"
                                    : "This request changes the TC, and this TC has no admin token: set "
                                    + "cohort.tc.auth.admin-token to allow changes over REST");
                        }));
        return http.build();
    }

    /**
     * A request whose path is not in normal form never reaches a handler. The caller hears 401
     * unless it proved who it is, so that nothing about the API is told before authentication.
     */
    @Bean
    RequestRejectedHandler apiRequestRejectedHandler(ApiTokens tokens, ApiAudit audit) {
        return (request, response, e) -> {
            if (!tokens.authenticationOff() && tokens.roleOf(request.getHeader("Authorization")).isEmpty()) {
                audit.authenticationFailed(request, "no valid bearer token, on a path not in normal form");
                writeUnauthenticated(response);
                return;
            }
            audit.refused(request, e.getMessage());
            writeError(response, 400, "INVALID_REQUEST", "The request path is not in normal form (no ';', '//', "
                    + "'.' or '..' segments, encoded '/', '.' or '%'); write it as documented, e.g. /api/v1/transactions");
        };
    }

    static boolean isRead(HttpServletRequest request) {
        String method = request.getMethod();
        return method.equals("GET") || method.equals("HEAD") || method.equals("OPTIONS");
    }

    static void writeUnauthenticated(HttpServletResponse response) throws IOException {
        writeError(response, 401, "UNAUTHENTICATED", "This TC requires Authorization: Bearer <token>: "
                + "cohort.tc.auth.token to read, cohort.tc.auth.admin-token to change");
    }

    static void writeError(HttpServletResponse response, int status, String code, String message) throws IOException {
        response.setStatus(status);
        response.setContentType("application/json");
        response.setCharacterEncoding("UTF-8");
        if (status == 401) {
            response.setHeader("WWW-Authenticate", "Bearer");
        }
        // The messages are constants: nothing from the request is echoed back.
        response.getWriter().write("{\"code\":\"" + code + "\",\"message\":\"" + message + "\"}");
    }
}
