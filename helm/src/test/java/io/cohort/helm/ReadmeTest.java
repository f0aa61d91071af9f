package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The chart README explains every value and gives the install command. */
class ReadmeTest {

    /** Values whose content is free-form Kubernetes or Spring configuration, documented as a whole. */
    private static final Set<String> FREE_FORM = Set.of(
            "config", "resources", "podSecurityContext", "securityContext", "affinity", "nodeSelector",
            "podAnnotations", "podLabels", "probes.startup", "probes.liveness", "probes.readiness");

    @Test
    void everyValueIsExplained() throws IOException {
        String readme = Files.readString(Chart.DIR.resolve("README.md"));
        Map<String, Object> values = Chart.parseYaml(Files.readString(Chart.DIR.resolve("values.yaml")));

        List<String> paths = new ArrayList<>();
        collect("", values, paths);

        assertThat(paths).hasSizeGreaterThan(50);
        assertThat(paths)
                .as("values missing from the README tables")
                .allSatisfy(path -> assertThat(readme).contains("| `" + path + "` |"));
    }

    @Test
    void givesTheInstallCommand() throws IOException {
        assertThat(Files.readString(Chart.DIR.resolve("README.md")))
                .contains("helm install cohort ./helm/cohort")
                .contains("dns:///cohort-headless.");
    }

    @SuppressWarnings("unchecked")
    private static void collect(String prefix, Map<String, Object> map, List<String> paths) {
        for (Map.Entry<String, Object> e : map.entrySet()) {
            String path = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            if (e.getValue() instanceof Map<?, ?> child && !child.isEmpty() && !FREE_FORM.contains(path)) {
                collect(path, (Map<String, Object>) child, paths);
            } else {
                paths.add(path);
            }
        }
    }
}
