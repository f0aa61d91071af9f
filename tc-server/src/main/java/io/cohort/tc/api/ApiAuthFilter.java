package io.cohort.tc.api;

import io.cohort.tc.config.TcProperties;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import org.springframework.stereotype.Component;
import org.springframework.web.filter.OncePerRequestFilter;

/** When {@code cohort.tc.auth.token} is set, /api requires {@code Authorization: Bearer <token>}. Probes stay open. */
@Component
public class ApiAuthFilter extends OncePerRequestFilter {

    private final byte[] expected;

    public ApiAuthFilter(TcProperties properties) {
        String token = properties.auth().token();
        this.expected = token.isEmpty() ? null : ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    @Override
    protected boolean shouldNotFilter(HttpServletRequest request) {
        return expected == null || !request.getRequestURI().startsWith("/api/");
    }

    @Override
    protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
            throws ServletException, IOException {
        String presented = request.getHeader("Authorization");
        if (presented == null || !MessageDigest.isEqual(expected, presented.getBytes(StandardCharsets.UTF_8))) {
            response.setStatus(401);
            response.setContentType("application/json");
            response.getWriter().write("{\"code\":\"UNAUTHENTICATED\",\"message\":\"This TC requires "
                    + "Authorization: Bearer <cohort.tc.auth.token>\"}");
            return;
        }
        chain.doFilter(request, response);
    }
}
