package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

class ChartLintTest {

    @Test
    void lintPassesInStrictModeWithDefaultValues() {
        assertLintPasses(Chart.helm().lint().strict().call());
    }

    /**
     * helm-java's lint takes no values file, so each value set is linted on a copy of the chart
     * whose values.yaml is the defaults with that set merged over them, as Helm would merge them.
     */
    @ParameterizedTest
    @ValueSource(strings = {
        "embedded-custom-storage.yaml", "postgres-existing-secret.yaml", "postgres-chart-secret.yaml",
        "servicemonitor.yaml", "auth-token.yaml", "auth-existing-secret.yaml", "auth-disabled.yaml",
        "network-policy.yaml"})
    void lintPassesInStrictModeWithRealisticValues(String file, @TempDir Path tmp) throws IOException {
        Path chart = copyChart(tmp.resolve("cohort"));
        Map<String, Object> values = Chart.parseYaml(Files.readString(Chart.DIR.resolve("values.yaml")));
        merge(values, Chart.parseYaml(Files.readString(Chart.VALUES.resolve(file))));
        DumperOptions options = new DumperOptions();
        options.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        Files.writeString(chart.resolve("values.yaml"), new Yaml(options).dump(values));

        assertLintPasses(new Helm(chart).lint().strict().call());
    }

    @Test
    void chartMetadataMatchesTheRelease() throws IOException {
        Map<String, Object> chart = Chart.parseYaml(Files.readString(Chart.DIR.resolve("Chart.yaml")));

        assertThat(chart)
                .containsEntry("apiVersion", "v2")
                .containsEntry("name", "cohort")
                .containsEntry("version", "0.1.0")
                .containsEntry("appVersion", "0.1.0");
    }

    @Test
    void chartShipsSchemaNotesAndReadme() {
        assertThat(Chart.DIR.resolve("values.schema.json")).isRegularFile();
        assertThat(Chart.DIR.resolve("templates/NOTES.txt")).isRegularFile();
        assertThat(Chart.DIR.resolve("README.md")).isRegularFile();
    }

    private static void assertLintPasses(LintResult result) {
        assertThat(result.isFailed()).as("helm lint --strict: %s", result.getMessages()).isFalse();
        assertThat(result.getMessages())
                .as("only informational findings")
                .allSatisfy(message -> assertThat(message).startsWith("[INFO]"));
    }

    @SuppressWarnings("unchecked")
    private static void merge(Map<String, Object> base, Map<String, Object> override) {
        for (Map.Entry<String, Object> e : override.entrySet()) {
            Object current = base.get(e.getKey());
            if (current instanceof Map<?, ?> currentMap && e.getValue() instanceof Map<?, ?> overrideMap) {
                Map<String, Object> copy = new LinkedHashMap<>((Map<String, Object>) currentMap);
                merge(copy, (Map<String, Object>) overrideMap);
                base.put(e.getKey(), copy);
            } else {
                base.put(e.getKey(), e.getValue());
            }
        }
    }

    private static Path copyChart(Path target) throws IOException {
        try (Stream<Path> files = Files.walk(Chart.DIR)) {
            files.forEach(source -> {
                Path dest = target.resolve(Chart.DIR.relativize(source).toString());
                try {
                    if (Files.isDirectory(source)) {
                        Files.createDirectories(dest);
                    } else {
                        Files.copy(source, dest);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
        return target;
    }
}
