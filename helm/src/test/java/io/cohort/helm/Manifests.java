package io.cohort.helm;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** The Kubernetes objects of one {@code helm template} run, with shortcuts to the TC pod. */
final class Manifests {

    private final List<Node> objects;
    private final String text;

    private Manifests(List<Node> objects, String text) {
        this.objects = objects;
        this.text = text;
    }

    static Manifests parse(String rendered) {
        List<Node> objects = new ArrayList<>();
        for (Object doc : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(rendered)) {
            if (doc != null) {
                Map<?, ?> map = (Map<?, ?>) doc;
                objects.add(new Node(map, map.get("kind") + "/" + ((Map<?, ?>) map.get("metadata")).get("name")));
            }
        }
        return new Manifests(objects, rendered);
    }

    /** The rendered YAML as Helm printed it. */
    String text() {
        return text;
    }

    List<String> kinds() {
        return objects.stream().map(o -> o.at("kind").text()).sorted().collect(Collectors.toList());
    }

    Optional<Node> find(String kind, String name) {
        return objects.stream()
                .filter(o -> o.at("kind").text().equals(kind) && o.at("metadata.name").text().equals(name))
                .findFirst();
    }

    Node get(String kind, String name) {
        return find(kind, name).orElseThrow(() -> new AssertionError(
                "no " + kind + "/" + name + " rendered; objects: " + objects.stream()
                        .map(o -> o.at("kind").text() + "/" + o.at("metadata.name").text()).toList()));
    }

    /** The only object of this kind. */
    Node single(String kind) {
        List<Node> found = objects.stream().filter(o -> o.at("kind").text().equals(kind)).toList();
        if (found.size() != 1) {
            throw new AssertionError("expected one " + kind + ", found " + found.size() + "; kinds: " + kinds());
        }
        return found.get(0);
    }

    /** The StatefulSet or Deployment that runs the TC. */
    Node workload() {
        List<Node> found = objects.stream()
                .filter(o -> List.of("StatefulSet", "Deployment").contains(o.at("kind").text()))
                .toList();
        if (found.size() != 1) {
            throw new AssertionError("expected one TC workload, found " + found.size() + "; kinds: " + kinds());
        }
        return found.get(0);
    }

    Node podSpec() {
        return workload().at("spec.template.spec");
    }

    Node container() {
        return podSpec().at("containers[name=tc]");
    }

    Node env(String name) {
        return container().at("env[name=" + name + "]");
    }

    boolean hasEnv(String name) {
        return container().at("env").find(e -> e.at("name").text().equals(name)).isPresent();
    }

    /** The application.yaml the ConfigMap mounts at /config/, parsed. */
    Node applicationYaml() {
        Object yaml = single("ConfigMap").at("data").map().get("application.yaml");
        if (!(yaml instanceof String)) {
            throw new AssertionError("ConfigMap has no data.application.yaml: " + single("ConfigMap"));
        }
        return new Node(Chart.parseYaml((String) yaml), "application.yaml");
    }
}
