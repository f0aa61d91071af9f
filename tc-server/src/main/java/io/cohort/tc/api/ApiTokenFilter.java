package io.cohort.tc.api;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.springframework.security.authentication.UsernamePasswordAuthenticationToken;
import org.springframework.security.core.authority.SimpleGrantedAuthority;
import org.springframework.security.core.context.SecurityContextHolder;
import org.springframework.web.cors.CorsUtils;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Turns the bearer token into an authenticated caller (name and roles) for Spring Security's
 * authorization rules, refuses a wrong token at once, and refuses writes sent by a page of another
 * origin (a browser may send those with the user's network position even when no token is needed).
 */
final class ApiTokenFilter extends OncePerRequestFilter {

    private final ApiTokens tokens;
    private final ApiAudit audit;

    ApiTokenFilter(ApiTokens tokens, ApiAudit audit) {
        this.tokens = tokens;
        this.audit = audit;
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        if (!ApiSecurity.isRead(request) && CorsUtils.isCorsRequest(request)) {
            audit.refused(request, "a cross-origin write (Origin: " + request.getHeader("Origin") + ")");
            ApiSecurity.writeError(response, 403, "CROSS_ORIGIN_WRITE", "The TC does not accept changes sent from "
                    + "another origin; call the API directly, not from a web page of another site");
            return;
        }
        if (tokens.authenticationOff()) {
            authenticate("anyone (authentication off)", List.of(ApiTokens.Role.CLIENT, ApiTokens.Role.ADMIN));
        } else {
            String header = request.getHeader("Authorization");
            Optional<ApiTokens.Role> role = tokens.roleOf(header);
            if (header != null && role.isEmpty()) {
                audit.authenticationFailed(request, "a wrong or malformed bearer token");
                ApiSecurity.writeUnauthenticated(response);
                return;
            }
            role.ifPresent(r -> authenticate(r == ApiTokens.Role.ADMIN ? "admin" : "client",
                    r == ApiTokens.Role.ADMIN ? List.of(ApiTokens.Role.CLIENT, ApiTokens.Role.ADMIN) : List.of(r)));
        }
        chain.doFilter(request, response);
    }

    private static void authenticate(String name, List<ApiTokens.Role> roles) {
        var authorities = roles.stream().map(r -> new SimpleGrantedAuthority("ROLE_" + r.name())).toList();
        SecurityContextHolder.getContext().setAuthentication(
                UsernamePasswordAuthenticationToken.authenticated(name, null, authorities));
    }
}
