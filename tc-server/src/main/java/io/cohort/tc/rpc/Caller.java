package io.cohort.tc.rpc;

import io.grpc.Context;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Who makes a gRPC call, as {@link AuthInterceptor} established it, and which resources it may
 * serve as an RM. Without per-service identities every caller may serve every resource.
 *
 * @param name      the service's name in {@code cohort.tc.auth.clients}, or a description for logs
 * @param resources patterns of the resource ids it may serve; null for any
 */
record Caller(String name, List<Pattern> resources) {

    static final Context.Key<Caller> KEY = Context.key("cohort-caller");

    /** Authentication off, or the shared client token: no restriction. */
    static final Caller ANY = new Caller("any caller", null);

    static Caller current() {
        Caller caller = KEY.get();
        return caller == null ? ANY : caller;
    }

    /** A named service limited to {@code patterns}, where {@code *} stands for any characters. */
    static Caller restricted(String name, List<String> patterns) {
        return new Caller(name, patterns.stream().map(Caller::glob).toList());
    }

    /**
     * The application id a transaction this caller begins is recorded and counted under
     * ({@code cohort.tc.limits.max-active-per-application}): a named service's own name, whatever
     * it claims, so it cannot escape its cap by claiming another id; otherwise the claimed id.
     */
    String applicationId(String claimed) {
        return this == ANY ? claimed : name;
    }

    boolean mayServe(String resourceId) {
        return resources == null || resources.stream().anyMatch(p -> p.matcher(resourceId).matches());
    }

    private static Pattern glob(String pattern) {
        StringBuilder regex = new StringBuilder();
        for (String literal : pattern.split("\\*", -1)) {
            regex.append(regex.isEmpty() ? "" : ".*").append(Pattern.quote(literal));
        }
        return Pattern.compile(regex.toString(), Pattern.DOTALL);
    }
}
