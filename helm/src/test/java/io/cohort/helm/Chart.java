package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * Renders the chart in helm/cohort in-process (helm-java embeds Helm as a native library, so no
 * helm binary is needed) and parses the output into {@link Manifests}.
 */
final class Chart {

    static final Path DIR = Path.of("cohort");
    static final Path VALUES = Path.of("src/test/resources/values");
    static final String RELEASE = "cohort";
    static final String NAMESPACE = "tx";

    private Chart() {
    }

    static Helm helm() {
        KubernetesApi.start();
        if (!Files.isRegularFile(DIR.resolve("Chart.yaml"))) {
            throw new IllegalStateException("chart not found at " + DIR.toAbsolutePath()
                    + "; run the tests from the helm module directory");
        }
        return new Helm(DIR);
    }

    /** Renders with the given files from src/test/resources/values, in order. */
    static Manifests render(String... valueFiles) {
        return Manifests.parse(template(valueFiles, Map.of()).call());
    }

    /** Renders with value files and --set style overrides. */
    static Manifests render(List<String> valueFiles, Map<String, Object> sets) {
        return Manifests.parse(template(valueFiles.toArray(String[]::new), sets).call());
    }

    /** Renders with a values file shipped in the chart (e.g. values-production.yaml) and --set style overrides. */
    static TemplateCommand withChartValues(String chartValuesFile, Map<String, Object> sets) {
        Path path = DIR.resolve(chartValuesFile);
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("no values file " + path.toAbsolutePath());
        }
        return template(new String[0], sets).withValuesFile(path);
    }

    /** Renders with default values into another release namespace. */
    static Manifests renderIn(String namespace) {
        return Manifests.parse(template(new String[0], Map.of()).withNamespace(namespace).call());
    }

    /** Renders a values file that must be rejected, and returns Helm's error message. */
    static String failure(String valueFile) {
        List<String> message = new ArrayList<>(1);
        assertThatThrownBy(() -> template(new String[] {valueFile}, Map.of()).call())
                .as("rendering with %s must fail", valueFile)
                .isInstanceOf(IllegalStateException.class)
                .satisfies(e -> message.add(e.getMessage()));
        return message.get(0);
    }

    private static TemplateCommand template(String[] valueFiles, Map<String, Object> sets) {
        TemplateCommand command = helm().template().withName(RELEASE).withNamespace(NAMESPACE);
        for (String file : valueFiles) {
            Path path = VALUES.resolve(file);
            if (!Files.isRegularFile(path)) {
                throw new IllegalArgumentException("no values file " + path.toAbsolutePath());
            }
            command = command.withValuesFile(path);
        }
        for (Map.Entry<String, Object> set : sets.entrySet()) {
            command = command.set(set.getKey(), set.getValue());
        }
        return command;
    }

    /** Parses one YAML document, e.g. Chart.yaml. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> parseYaml(String text) {
        return (Map<String, Object>) new Yaml(new SafeConstructor(new LoaderOptions())).load(text);
    }
}
