package io.cohort.tm.propagation;

import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Binds the incoming {@code Cohort-Xid} header to the request thread for the duration of the
 * request, so the service's {@code @GlobalTransactional} methods join the caller's global
 * transaction and its JDBC writes become branches of it.
 *
 * <p>Servlet containers reuse threads, so the binding is always removed in {@code finally}; an XID
 * found bound on arrival (leaked by code that forgot to unbind) is dropped and logged, never used
 * for this request. A malformed header is answered with 400 and the reason.
 */
public final class XidServletFilter implements Filter {

    private static final Logger log = LoggerFactory.getLogger(XidServletFilter.class);

    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
            throws IOException, ServletException {
        if (!(request instanceof HttpServletRequest http)) {
            chain.doFilter(request, response);
            return;
        }
        String xid;
        try {
            xid = XidPropagation.parse(http.getHeader(Protocol.XID_HEADER));
        } catch (IllegalArgumentException malformed) {
            HttpServletResponse httpResponse = (HttpServletResponse) response;
            httpResponse.setStatus(HttpServletResponse.SC_BAD_REQUEST);
            httpResponse.setContentType("text/plain;charset=UTF-8");
            httpResponse.getOutputStream().write(("Bad " + Protocol.XID_HEADER + " header: "
                    + malformed.getMessage()).getBytes(StandardCharsets.UTF_8));
            return;
        }
        String stale = XidContext.unbind();
        if (stale != null) {
            log.warn("XID {} was still bound to thread {} when a new request arrived; something did not unbind it",
                    stale, Thread.currentThread().getName());
        }
        if (xid != null) {
            XidContext.bind(xid);
        }
        try {
            chain.doFilter(request, response);
        } finally {
            XidContext.unbind();
        }
    }
}
