package io.cohort.tc.it;

import io.cohort.tc.TcServerApplication;
import io.cohort.tc.config.TcConfiguration;
import java.util.Collection;
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
        // As arguments, not default properties: those rank below application.yaml (server.port: 7091).
        String[] args = all.entrySet().stream().map(e -> "--" + e.getKey() + "=" + e.getValue()).toArray(String[]::new);
        this.context = new SpringApplicationBuilder(TcServerApplication.class).run(args);
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

    public <T> Collection<T> beans(Class<T> type) {
        return context.getBeansOfType(type).values();
    }

    @Override
    public void close() {
        context.close();
    }
}
