package io.cohort.tm.propagation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cohort.client.XidContext;
import io.cohort.protocol.Protocol;
import jakarta.servlet.ServletException;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.springframework.mock.web.MockFilterChain;
import org.springframework.mock.web.MockHttpServletRequest;
import org.springframework.mock.web.MockHttpServletResponse;

class XidServletFilterTest {

    private final XidServletFilter filter = new XidServletFilter();
    private final AtomicReference<String> seen = new AtomicReference<>();

    @AfterEach
    void clean() {
        XidContext.unbind();
    }

    private MockHttpServletResponse send(String xidHeader, Runnable handler) throws ServletException, IOException {
        MockHttpServletRequest request = new MockHttpServletRequest("POST", "/credit");
        if (xidHeader != null) {
            request.addHeader(Protocol.XID_HEADER, xidHeader);
        }
        MockHttpServletResponse response = new MockHttpServletResponse();
        filter.doFilter(request, response, new MockFilterChain(new jakarta.servlet.http.HttpServlet() {
            @Override
            protected void service(jakarta.servlet.http.HttpServletRequest req, jakarta.servlet.http.HttpServletResponse res) {
                seen.set(XidContext.current());
                handler.run();
            }
        }));
        return response;
    }

    @Test
    void shouldBindTheHeaderForTheRequestAndUnbindAfterwards() throws Exception {
        send("10.0.0.5:8091:7", () -> { });

        assertThat(seen.get()).isEqualTo("10.0.0.5:8091:7");
        assertThat(XidContext.current()).isNull();
    }

    @Test
    void shouldUnbindEvenWhenTheHandlerThrows() {
        assertThatThrownBy(() -> send("10.0.0.5:8091:7", () -> {
            throw new IllegalStateException("handler failed");
        })).hasMessage("handler failed");

        assertThat(seen.get()).isEqualTo("10.0.0.5:8091:7");
        assertThat(XidContext.current()).isNull();
    }

    @Test
    void shouldNotLetALeakedXidReachARequestWithoutHeader() throws Exception {
        XidContext.bind("10.0.0.5:8091:1");

        send(null, () -> { });

        assertThat(seen.get()).isNull();
        assertThat(XidContext.current()).isNull();
    }

    @Test
    void shouldAnswer400WithTheReasonForAMalformedHeader() throws Exception {
        MockHttpServletResponse response = send("garbage", () -> { });

        assertThat(response.getStatus()).isEqualTo(400);
        assertThat(response.getContentAsString()).contains("Cohort-Xid").contains("garbage");
        assertThat(seen.get()).isNull();
    }
}
