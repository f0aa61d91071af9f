package io.cohort.rm;

import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Names for the TC that a test can make stop resolving, as DNS does when a record disappears or its
 * server stops answering. A target {@code cohort-it:///<name>} resolves to the port given by
 * {@link #point}; {@link #set} switches one name to {@link Mode#UNKNOWN_HOST} (resolution fails at
 * once, like NXDOMAIN) or {@link Mode#HANG} (resolution never answers) and back, telling every
 * channel that resolved the name. Registered with gRPC's default registry, so every channel of the
 * test JVM — the RM's, its command stream's and the termination probe's — resolves through it.
 */
final class TcNameResolver extends NameResolverProvider {

    enum Mode { RESOLVE, UNKNOWN_HOST, HANG }

    private static final String SCHEME = "cohort-it";
    private static final TcNameResolver INSTANCE = new TcNameResolver();

    static {
        NameResolverRegistry.getDefaultRegistry().register(INSTANCE);
    }

    private final Map<String, Integer> ports = new ConcurrentHashMap<>();
    private final Map<String, Mode> modes = new ConcurrentHashMap<>();
    private final Set<Resolver> active = ConcurrentHashMap.newKeySet();

    /** A gRPC target for {@code name}, resolving to 127.0.0.1:{@code port}. */
    static String point(String name, int port) {
        INSTANCE.ports.put(name, port);
        INSTANCE.modes.put(name, Mode.RESOLVE);
        return SCHEME + ":///" + name;
    }

    /** Switches how {@code name} resolves, and re-resolves every channel using it now. */
    static void set(String name, Mode mode) {
        INSTANCE.modes.put(name, mode);
        for (Resolver r : INSTANCE.active) {
            if (r.name.equals(name)) {
                r.resolve();
            }
        }
    }

    @Override
    protected boolean isAvailable() {
        return true;
    }

    @Override
    protected int priority() {
        return 5;
    }

    @Override
    public String getDefaultScheme() {
        return SCHEME;
    }

    @Override
    public Collection<Class<? extends SocketAddress>> getProducedSocketAddressTypes() {
        return List.of(InetSocketAddress.class);
    }

    @Override
    public NameResolver newNameResolver(URI targetUri, NameResolver.Args args) {
        return SCHEME.equals(targetUri.getScheme()) ? new Resolver(targetUri.getPath().substring(1)) : null;
    }

    private final class Resolver extends NameResolver {
        final String name;
        volatile Listener2 listener;

        Resolver(String name) {
            this.name = name;
        }

        @Override
        public String getServiceAuthority() {
            return name;
        }

        @Override
        public void start(Listener2 l) {
            listener = l;
            active.add(this);
            resolve();
        }

        @Override
        public void refresh() {
            resolve();
        }

        void resolve() {
            Listener2 l = listener;
            Integer port = ports.get(name);
            switch (port == null ? Mode.UNKNOWN_HOST : modes.getOrDefault(name, Mode.RESOLVE)) {
                case RESOLVE -> l.onResult(ResolutionResult.newBuilder()
                        .setAddresses(List.of(new EquivalentAddressGroup(new InetSocketAddress("127.0.0.1", port))))
                        .build());
                case UNKNOWN_HOST -> l.onError(Status.UNAVAILABLE.withDescription("Unable to resolve host " + name));
                case HANG -> {
                    // like a DNS server that does not answer: no result, no error
                }
            }
        }

        @Override
        public void shutdown() {
            active.remove(this);
        }
    }
}
