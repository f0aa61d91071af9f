package io.cohort.client;

import io.grpc.Attributes;
import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/** Resolves a fixed list of {@code host:port} replicas, so one channel can balance over all of them. */
final class StaticAddressResolver extends NameResolverProvider {

    private static final String SCHEME = "cohort-static";
    private static final Map<String, Listing> LISTS = new ConcurrentHashMap<>();
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static final StaticAddressResolver INSTANCE = new StaticAddressResolver();

    static {
        NameResolverRegistry.getDefaultRegistry().register(INSTANCE);
    }

    /** The replicas, and the name each one's TLS certificate must carry: its own host, or {@code serverName}. */
    private record Listing(List<String> addresses, String serverName) {
    }

    /**
     * Returns a channel target that resolves to {@code addresses}. Each replica is spoken to (and,
     * over TLS, checked) under its own {@code host:port}, or under {@code serverName} when not null.
     */
    static String register(List<String> addresses, String serverName) {
        String id = "list" + SEQUENCE.incrementAndGet();
        LISTS.put(id, new Listing(List.copyOf(addresses), serverName));
        return SCHEME + ":///" + id;
    }

    static InetSocketAddress parse(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("TC address '" + hostPort + "' must be host:port");
        }
        try {
            return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("TC address '" + hostPort + "' has a non-numeric port");
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
        if (!SCHEME.equals(targetUri.getScheme())) {
            return null;
        }
        Listing listing = LISTS.get(targetUri.getPath().substring(1));
        return new NameResolver() {
            @Override
            public String getServiceAuthority() {
                return "cohort-tc";
            }

            @Override
            public void start(Listener2 listener) {
                if (listing == null) {
                    listener.onError(Status.INVALID_ARGUMENT.withDescription("unknown address list " + targetUri));
                    return;
                }
                List<EquivalentAddressGroup> groups = new ArrayList<>();
                for (String a : listing.addresses()) {
                    groups.add(new EquivalentAddressGroup(parse(a), Attributes.newBuilder().set(
                            EquivalentAddressGroup.ATTR_AUTHORITY_OVERRIDE,
                            listing.serverName() == null ? a : listing.serverName()).build()));
                }
                listener.onResult(ResolutionResult.newBuilder().setAddresses(groups).build());
            }

            @Override
            public void shutdown() {
            }
        };
    }
}
