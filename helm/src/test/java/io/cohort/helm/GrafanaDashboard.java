package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The TC's Grafana dashboard as the chart renders it: its ConfigMap, parsed, and the metrics its panels query. */
final class GrafanaDashboard {

    private static final Pattern METRIC = Pattern.compile("\\b(cohort_[a-z0-9_]+)\\b");

    final Node configMap;
    final Map<String, Object> json;

    private GrafanaDashboard(Node configMap, Map<String, Object> json) {
        this.configMap = configMap;
        this.json = json;
    }

    /** Renders the chart with the dashboard on; the JSON must parse (YAML 1.1 reads JSON). */
    static GrafanaDashboard render() {
        Node configMap = Chart.render("grafana-dashboard.yaml").get("ConfigMap", "cohort-grafana-dashboard");
        String text = configMap.at("data").map().get("cohort-tc.json").toString();
        assertThat(text.strip()).startsWith("{").endsWith("}");
        return new GrafanaDashboard(configMap, Chart.parseYaml(text));
    }

    /** Every panel that shows data (rows hold none). */
    List<Node> panels() {
        return new Node(json, "dashboard").at("panels").list().stream()
                .filter(p -> !"row".equals(p.at("type").text())).toList();
    }

    static List<String> expressions(Node panel) {
        List<String> exprs = new ArrayList<>();
        for (Node target : panel.at("targets").list()) {
            exprs.add(target.at("expr").text());
        }
        return exprs;
    }

    /** The metric names the panels query (cohort_*), as Prometheus exposes them. */
    Set<String> metricNames() {
        Set<String> names = new TreeSet<>();
        for (Node panel : panels()) {
            for (String expr : expressions(panel)) {
                Matcher m = METRIC.matcher(expr);
                while (m.find()) {
                    names.add(m.group(1));
                }
            }
        }
        return names;
    }
}
