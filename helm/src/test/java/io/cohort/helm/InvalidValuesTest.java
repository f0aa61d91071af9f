package io.cohort.helm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Value sets that cannot work must fail at install time, saying what is wrong and what to do.
 * Files are under src/test/resources/values/invalid/.
 */
class InvalidValuesTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', textBlock = """
            embedded-three-replicas.yaml             | runs exactly one replica, but replicaCount=3               | use store.type=postgres
            postgres-without-url.yaml                | store.type=postgres needs a JDBC URL                       | Set store.postgres.url
            postgres-without-password.yaml           | store.type=postgres needs a password source                | store.postgres.existingSecret
            postgres-two-passwords.yaml              | both store.postgres.password and store.postgres.existingSecret are set | unset store.postgres.password
            postgres-two-urls.yaml                   | the postgres URL is given twice                            | Set only one of them
            postgres-url-not-jdbc.yaml               | must be a PostgreSQL JDBC URL starting with "jdbc:postgresql:" | got "postgres://pg:5432/cohort"
            pdb-min-available-equals-replicas.yaml   | minAvailable=3 with replicaCount=3 would block every voluntary eviction | Set minAvailable below replicaCount (e.g. 2)
            pdb-both-set.yaml                        | sets both minAvailable and maxUnavailable                  | Set the other to ""
            pdb-max-unavailable-zero.yaml            | maxUnavailable=0 would block every voluntary eviction      | Use maxUnavailable=1
            servicemonitor-prometheus-not-exposed.yaml | does not expose the prometheus endpoint                  | Add "prometheus" to config.management.endpoints.web.exposure.include
            auth-token-twice.yaml                    | both auth.token and auth.existingSecret are set            | unset auth.token
            auth-disabled-with-token.yaml            | auth.enabled=false turns authentication off, but a token is given | Set auth.enabled=true to use it
            auth-admin-token-same.yaml               | auth.adminToken equals auth.token                          | the admin token must be another secret
            config-token-in-configmap.yaml           | config.cohort.tc.auth.token is set by the chart            | a ConfigMap is no place for a token
            config-store-type.yaml                   | config.cohort.tc.store.type is set by the chart            | set store.type instead
            config-management-port.yaml              | config.management.server.port moves the actuator off ports.http | Remove config.management.server.port
            config-grpc-port-camel-case.yaml         | config.cohort.tc.grpcPort is cohort.tc.grpc-port to Spring Boot | set ports.grpc instead
            config-grpc-port-dotted-upper.yaml       | config.cohort.tc.GRPC_PORT is cohort.tc.grpc-port to Spring Boot | set ports.grpc instead
            env-grpc-port.yaml                       | env COHORT_TC_GRPC_PORT is cohort.tc.grpc-port to Spring Boot | set ports.grpc instead
            env-server-port.yaml                     | env SERVER_PORT is server.port to Spring Boot              | set ports.http instead
            env-managed.yaml                         | env COHORT_TC_STORE_POSTGRES_PASSWORD is set by the chart  | use the matching chart value
            same-ports.yaml                          | ports.grpc and ports.http are both 8091                    | need different ports
            schema-store-type-unknown.yaml           | store.type                                                 | "embedded", "postgres"
            schema-replicas-zero.yaml                | replicaCount: Must be greater than or equal to 1           | replicaCount
            schema-privileged-port.yaml              | ports.grpc: Must be greater than or equal to 1024          | ports.grpc
            schema-misspelled-key.yaml               | Additional property replicas is not allowed                | (root)
            schema-bad-timeout.yaml                  | tc.defaultTimeout: Does not match pattern                  | tc.defaultTimeout
            schema-anti-affinity-mode.yaml           | podAntiAffinity.mode                                       | "preferred", "required", "none"
            """)
    void rejectedWithAMessageSayingWhatToDo(String file, String what, String todo) {
        String message = Chart.failure("invalid/" + file);

        assertThat(message).contains(what).contains(todo);
    }
}
