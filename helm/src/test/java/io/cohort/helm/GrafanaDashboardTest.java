package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class GrafanaDashboardTest {

    @Test
    void dashboardConfigMapIsLabelledForTheGrafanaSidecarAndHoldsTheDashboard() {
        GrafanaDashboard dashboard = GrafanaDashboard.render();

        assertThat(dashboard.configMap.at("metadata.namespace").text()).isEqualTo("monitoring");
        assertThat(dashboard.configMap.at("metadata.labels").map()).containsEntry("grafana_dashboard", "1")
                .containsKey("app.kubernetes.io/instance");
        assertThat(dashboard.configMap.at("metadata.annotations").map()).containsEntry("grafana_folder", "Cohort");
        assertThat(dashboard.json).containsEntry("uid", "cohort-tc").containsKey("templating");
        assertThat(dashboard.panels()).hasSizeGreaterThanOrEqualTo(8).allSatisfy(panel -> {
            assertThat(panel.at("title").text()).isNotBlank();
            assertThat(panel.at("datasource.uid").text()).isEqualTo("${datasource}");
            assertThat(GrafanaDashboard.expressions(panel)).as("queries of %s", panel.at("title").text())
                    .isNotEmpty().allSatisfy(expr -> assertThat(expr).contains("cohort_"));
        });
        assertThat(dashboard.metricNames()).contains("cohort_tc_transactions_total",
                "cohort_tc_branch_phase2_seconds_bucket", "cohort_tc_phase2_retries_total",
                "cohort_tc_lock_conflicts_total", "cohort_tc_transactions_current", "cohort_store_fsync_seconds_bucket");
    }

    @Test
    void noDashboardByDefault() {
        assertThat(Chart.render().find("ConfigMap", "cohort-grafana-dashboard")).isEmpty();
    }
}
