package io.cohort.tc.api;

import io.cohort.tc.config.TcProperties;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Who an {@code Authorization} header says the caller is. The client tokens (the shared one and
 * each service's, which TMs and RMs present on gRPC) may read the REST API; only the admin token may
 * change anything. With no token and no service configured authentication is off and every caller
 * may do everything.
 */
final class ApiTokens {

    /** A caller's role; {@code ADMIN} includes {@code CLIENT}. */
    enum Role { CLIENT, ADMIN }

    private final List<byte[]> clients;
    private final byte[] admin;
    /** Services known only by their certificates count too: with them, REST is not left open. */
    private final boolean off;

    ApiTokens(TcProperties.Auth auth) {
        this.clients = Stream.concat(Stream.of(auth.token()), auth.clients().values().stream().map(TcProperties.Client::token))
                .filter(t -> !t.isEmpty()).map(ApiTokens::bearer).toList();
        this.admin = bearer(auth.adminToken());
        this.off = !auth.required() && admin == null;
    }

    private static byte[] bearer(String token) {
        return token.isEmpty() ? null : ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    boolean authenticationOff() {
        return off;
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
        boolean isClient = false;
        for (byte[] client : clients) {
            isClient |= MessageDigest.isEqual(client, presented);
        }
        return isAdmin ? Optional.of(Role.ADMIN) : isClient ? Optional.of(Role.CLIENT) : Optional.empty();
    }
}
