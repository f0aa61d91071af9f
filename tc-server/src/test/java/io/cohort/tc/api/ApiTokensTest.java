package io.cohort.tc.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.tc.config.TcProperties;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ApiTokensTest {

    @Test
    void withServicesButNoSharedTokenTheRestApiIsNotOpenAndAServiceTokenReads() {
        ApiTokens tokens = new ApiTokens(new TcProperties.Auth("", "", Map.of(
                "billing", new TcProperties.Client("billing-secret", List.of("r")),
                "bank-a", new TcProperties.Client("", List.of("r")))));
        assertThat(tokens.authenticationOff()).isFalse();
        assertThat(tokens.roleOf("Bearer billing-secret")).contains(ApiTokens.Role.CLIENT);
        assertThat(tokens.roleOf("Bearer ")).isEmpty();
        assertThat(tokens.roleOf(null)).isEmpty();
    }

    @Test
    void nothingConfiguredIsOff() {
        assertThat(new ApiTokens(new TcProperties.Auth("", "", null)).authenticationOff()).isTrue();
    }
}
