package io.cohort.helm;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.concurrent.Executors;

/**
 * The two Kubernetes API calls the chart's {@code lookup} makes, served on an ephemeral local port:
 * helm-java's template, unlike {@code helm template}, asks the cluster of $KUBECONFIG (surefire
 * points it at {@link #KUBECONFIG}). No namespace has a Secret except {@link #INSTALLED}, whose
 * Secret "cohort" holds the tokens an earlier install generated: rendering there is an upgrade.
 */
final class KubernetesApi {

    /** Release namespace in which the chart's Secret exists already. */
    static final String INSTALLED = "installed";
    static final String INSTALLED_TOKEN = "token-an-earlier-install-generated";
    static final String INSTALLED_ADMIN_TOKEN = "admin-token-an-earlier-install-generated";

    private static final Path KUBECONFIG = Path.of("target/kubeconfig");

    private static boolean started;

    private KubernetesApi() {
    }

    /** Starts the server once per JVM and writes the kubeconfig that points at it. */
    static synchronized void start() {
        if (started) {
            return;
        }
        try {
            HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            server.createContext("/", KubernetesApi::handle);
            server.setExecutor(Executors.newCachedThreadPool(r -> {
                Thread t = new Thread(r, "kubernetes-api-stub");
                t.setDaemon(true);
                return t;
            }));
            server.start();
            Files.createDirectories(KUBECONFIG.getParent());
            Files.writeString(KUBECONFIG, """
                    apiVersion: v1
                    kind: Config
                    clusters: [{name: stub, cluster: {server: "http://127.0.0.1:%d"}}]
                    users: [{name: stub, user: {}}]
                    contexts: [{name: stub, context: {cluster: stub, user: stub}}]
                    current-context: stub
                    """.formatted(server.getAddress().getPort()));
            started = true;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void handle(HttpExchange exchange) throws IOException {
        String path = exchange.getRequestURI().getPath();
        if (path.equals("/api/v1")) {
            reply(exchange, 200, """
                    {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[
                     {"name":"secrets","singularName":"secret","namespaced":true,"kind":"Secret","verbs":["get"]}]}""");
        } else if (path.equals("/api/v1/namespaces/" + INSTALLED + "/secrets/cohort")) {
            reply(exchange, 200, """
                    {"apiVersion":"v1","kind":"Secret","metadata":{"name":"cohort","namespace":"%s"},"type":"Opaque",
                     "data":{"auth-token":"%s","admin-token":"%s"}}""".formatted(INSTALLED, b64(INSTALLED_TOKEN),
                    b64(INSTALLED_ADMIN_TOKEN)));
        } else {
            reply(exchange, 404, """
                    {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,
                     "message":"not found"}""");
        }
    }

    private static String b64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    private static void reply(HttpExchange exchange, int status, String json) throws IOException {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, body.length);
        exchange.getResponseBody().write(body);
        exchange.close();
    }
}
