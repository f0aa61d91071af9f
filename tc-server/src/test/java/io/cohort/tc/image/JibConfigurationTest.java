package io.cohort.tc.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.yaml.snakeyaml.Yaml;

/**
 * The Jib image (tc-server/pom.xml) cannot be built here (its base image is in a registry), so its
 * configuration is checked against what runs it: the Helm chart's security context, ports,
 * volumes and JVM options, and tc-server/Dockerfile, the other way to build the same image.
 */
class JibConfigurationTest {

    private static Element jib;
    private static Map<String, Object> chartValues;
    private static String podTemplate;
    private static String dockerfile;
    private static String helpers;

    @BeforeAll
    static void read() throws Exception {
        Element project = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Path.of("pom.xml").toFile())
                .getDocumentElement();
        for (Element plugin : all(child(child(project, "build"), "plugins"), "plugin")) {
            if (text(plugin, "artifactId").equals("jib-maven-plugin")) {
                jib = plugin;
            }
        }
        try (Reader in = Files.newBufferedReader(Path.of("..", "helm", "cohort", "values.yaml"))) {
            chartValues = new Yaml().load(in);
        }
        podTemplate = Files.readString(Path.of("..", "helm", "cohort", "templates", "_pod.tpl"));
        dockerfile = Files.readString(Path.of("Dockerfile"));
        helpers = Files.readString(Path.of("..", "helm", "cohort", "templates", "_helpers.tpl"));
    }

    @Test
    void theJibPluginIsTheVersionThatResolvesHere() {
        assertThat(jib).as("jib-maven-plugin in tc-server/pom.xml").isNotNull();
        assertThat(text(jib, "groupId")).isEqualTo("com.google.cloud.tools");
        assertThat(text(jib, "version")).isEqualTo("3.5.2");
        assertThat(child(jib, "executions")).as("not bound to a phase: the base image needs a registry").isNull();
    }

    @Test
    void theImageIsTheChartsDefaultImage() throws Exception {
        String appVersion = null;
        for (String line : Files.readAllLines(Path.of("..", "helm", "cohort", "Chart.yaml"))) {
            if (line.startsWith("appVersion:")) {
                appVersion = line.substring("appVersion:".length()).trim().replace("\"", "");
            }
        }
        String image = text(child(child(jib, "configuration"), "to"), "image");

        assertThat(image).isEqualTo(map(chartValues, "image").get("repository") + ":" + appVersion);
    }

    @Test
    void theImageRunsAsTheUserTheChartsSecurityContextRequires() {
        Map<String, Object> pod = map(chartValues, "podSecurityContext");
        Map<String, Object> container = map(chartValues, "securityContext");
        String user = text(container(), "user");

        assertThat(user).isEqualTo(pod.get("runAsUser") + ":" + pod.get("runAsGroup"))
                .isEqualTo(container.get("runAsUser") + ":" + container.get("runAsGroup"));
        assertThat(dockerfile).contains("USER " + user);
    }

    @Test
    void theImageExposesThePortsTheChartsServiceAndProbesUse() {
        Map<String, Object> ports = map(chartValues, "ports");
        List<String> exposed = all(child(container(), "ports"), "port").stream().map(Node::getTextContent).toList();

        assertThat(exposed).containsExactly(String.valueOf(ports.get("grpc")), String.valueOf(ports.get("http")));
        assertThat(dockerfile).contains("EXPOSE " + String.join(" ", exposed));
        assertThat(podTemplate).contains("port: http").contains("path: /actuator/health/liveness")
                .contains("path: /actuator/health/readiness");
    }

    @Test
    void theImageWritesOnlyWhereTheChartMountsVolumes() {
        assertThat(text(container(), "workingDirectory")).isEqualTo("/var/lib/cohort");
        assertThat(all(child(container(), "volumes"), "volume")).extracting(Node::getTextContent)
                .containsExactly("/var/lib/cohort");
        // readOnlyRootFilesystem: the data directory and /tmp are the chart's volumes.
        assertThat(map(chartValues, "securityContext")).containsEntry("readOnlyRootFilesystem", true);
        assertThat(podTemplate).contains("mountPath: {{ include \"cohort.dataDir\" . }}").contains("mountPath: /tmp");
        assertThat(helpers).containsPattern("define \"cohort.dataDir\" -}}\\s*/var/lib/cohort");
        assertThat(dockerfile).contains("WORKDIR /var/lib/cohort");
    }

    @Test
    void theEntrypointStartsTheTcWithTheChartsJvmOptions() throws Exception {
        String mainClass = text(container(), "mainClass");

        assertThat(Class.forName(mainClass).getMethod("main", String[].class)).isNotNull();
        assertThat(all(child(container(), "jvmFlags"), "jvmFlag")).as("JVM flags come from JAVA_TOOL_OPTIONS").isEmpty();
        assertThat(String.valueOf(chartValues.get("javaToolOptions"))).contains("-XX:MaxRAMPercentage");
        assertThat(podTemplate).contains("name: JAVA_TOOL_OPTIONS");
        assertThat(dockerfile).contains("FROM " + text(child(child(jib, "configuration"), "from"), "image"));
    }

    private static Element container() {
        return child(child(jib, "configuration"), "container");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Map<String, Object> parent, String key) {
        return (Map<String, Object>) parent.get(key);
    }

    private static Element child(Element parent, String tag) {
        if (parent == null) {
            return null;
        }
        List<Element> found = all(parent, tag);
        return found.isEmpty() ? null : found.get(0);
    }

    private static List<Element> all(Element parent, String tag) {
        List<Element> found = new ArrayList<>();
        if (parent == null) {
            return found;
        }
        for (Node node = parent.getFirstChild(); node != null; node = node.getNextSibling()) {
            if (node instanceof Element element && element.getTagName().equals(tag)) {
                found.add(element);
            }
        }
        return found;
    }

    private static String text(Element parent, String tag) {
        Element element = child(parent, tag);
        return element == null ? null : element.getTextContent().trim();
    }
}
