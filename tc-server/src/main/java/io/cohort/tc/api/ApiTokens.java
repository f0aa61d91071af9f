package io.cohort.tc.api;

import io.cohort.tc.config.TcProperties;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * Who an {@code Authorization} header says the caller is. The client token (the one TMs and RMs
 * present on gRPC) may read the REST API; only the admin token may change anything. With neither
 * token configured authentication is off and every caller may do everything.
 */
final class ApiTokens {

    /** A caller's role; {@code ADMIN} includes {@code CLIENT}. */
    enum Role { CLIENT, ADMIN }

    private final byte[] client;
    private final byte[] admin;

    ApiTokens(TcProperties.Auth auth) {
        this.client = bearer(auth.token());
        this.admin = bearer(auth.adminToken());
    }

    private static byte[] bearer(String token) {
        return token.isEmpty() ? null : ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    boolean authenticationOff() {
        return client == null && admin == null;
    }

    boolean adminTokenConfigured() {
        return admin != null;
    }

    /** The role the header proves, or empty when it proves none (absent, malformed or wrong). */
    Optional<Role> roleOf(String authorizationHeader) {
        if (authorizationHeader == null) {
            return Optional.empty();
        }
        byte[] presented = authorizationHeader.getBytes(StandardCharsets.UTF_8);
        // Compare with both in constant time, so the answer's timing tells nothing about either token.
        boolean isAdmin = admin != null && MessageDigest.isEqual(admin, presented);
        boolean isClient = client != null && MessageDigest.isEqual(client, presented);
        return isAdmin ? Optional.of(Role.ADMIN) : isClient ? Optional.of(Role.CLIENT) : Optional.empty();
    }
}
