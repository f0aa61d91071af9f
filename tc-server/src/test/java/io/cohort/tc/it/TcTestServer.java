package io.cohort.tc.it;

import io.cohort.tc.TcServerApplication;
import io.cohort.tc.config.TcConfiguration;
import java.util.HashMap;
import java.util.Map;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/** A real TC (the whole Spring Boot application) started in this JVM on free ports. */
public final class TcTestServer implements AutoCloseable {

    private final ConfigurableApplicationContext context;

    public TcTestServer(Map<String, Object> properties) {
        Map<String, Object> all = new HashMap<>();
        all.put("server.port", 0);
        all.put("cohort.tc.grpc-port", 0);
        all.put("cohort.tc.advertised-address", "");
        all.put("logging.level.io.cohort", "INFO");
        all.putAll(properties);
        this.context = new SpringApplicationBuilder(TcServerApplication.class).properties(all).run();
    }

    public String grpcAddress() {
        return "localhost:" + context.getBean(TcConfiguration.Endpoint.class).grpcPort();
    }

    public int httpPort() {
        return Integer.parseInt(context.getEnvironment().getProperty("local.server.port"));
    }

    public <T> T bean(Class<T> type) {
        return context.getBean(type);
    }

    @Override
    public void close() {
        context.close();
    }
}
