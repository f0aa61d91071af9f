package io.cohort.client;

import io.grpc.EquivalentAddressGroup;
import io.grpc.LoadBalancer;
import io.grpc.LoadBalancerProvider;
import io.grpc.LoadBalancerRegistry;
import io.grpc.NameResolver;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The balancer of one Calls stream's channel ({@link TcCallsStreams}): {@code pick_first} over the
 * replicas the target resolves to, the list sorted and rotated by the stream's lane number, so that
 * lane {@code i} of a client connects to replica {@code i mod n} while it answers and to the next one
 * that does otherwise. One channel balanced round-robin places streams on the replicas that are
 * connected when each stream starts, and at start that is the first one to connect: every stream
 * went to it.
 */
final class LaneLoadBalancer extends LoadBalancer {

    static final String POLICY = "cohort_lane";
    private static final Provider PROVIDER = new Provider();

    static {
        LoadBalancerRegistry.getDefaultRegistry().register(PROVIDER);
    }

    private final LoadBalancer pickFirst;

    private LaneLoadBalancer(Helper helper) {
        this.pickFirst = LoadBalancerRegistry.getDefaultRegistry().getProvider("pick_first").newLoadBalancer(helper);
    }

    /** The service config that gives a channel this balancer for {@code lane}. */
    static Map<String, ?> serviceConfig(int lane) {
        return Map.of("loadBalancingConfig", List.of(Map.of(POLICY, Map.of("lane", (double) lane))));
    }

    @Override
    public Status acceptResolvedAddresses(ResolvedAddresses resolved) {
        if (resolved.getAddresses().isEmpty()) {
            return pickFirst.acceptResolvedAddresses(resolved); // pick_first says what is wrong
        }
        int lane = resolved.getLoadBalancingPolicyConfig() instanceof Integer i ? i : 0;
        List<EquivalentAddressGroup> sorted = new ArrayList<>(resolved.getAddresses());
        // Each lane's channel resolves on its own, and DNS may answer in any order: sort, so the lanes agree.
        sorted.sort(Comparator.comparing(group -> group.getAddresses().toString()));
        List<EquivalentAddressGroup> rotated = new ArrayList<>(sorted.size());
        for (int k = 0; k < sorted.size(); k++) {
            rotated.add(sorted.get((lane + k) % sorted.size()));
        }
        return pickFirst.acceptResolvedAddresses(resolved.toBuilder().setAddresses(rotated)
                .setLoadBalancingPolicyConfig(null).build());
    }

    @Override
    public void handleNameResolutionError(Status error) {
        pickFirst.handleNameResolutionError(error);
    }

    @Override
    public void requestConnection() {
        pickFirst.requestConnection();
    }

    @Override
    public void shutdown() {
        pickFirst.shutdown();
    }

    private static final class Provider extends LoadBalancerProvider {
        @Override
        public boolean isAvailable() {
            return true;
        }

        @Override
        public int getPriority() {
            return 5;
        }

        @Override
        public String getPolicyName() {
            return POLICY;
        }

        @Override
        public LoadBalancer newLoadBalancer(LoadBalancer.Helper helper) {
            return new LaneLoadBalancer(helper);
        }

        @Override
        public NameResolver.ConfigOrError parseLoadBalancingPolicyConfig(Map<String, ?> raw) {
            Object lane = raw.get("lane");
            if (!(lane instanceof Number n) || n.intValue() < 0) {
                return NameResolver.ConfigOrError.fromError(Status.INTERNAL.withDescription(
                        POLICY + " needs a lane number of 0 or more, was " + lane));
            }
            return NameResolver.ConfigOrError.fromConfig(n.intValue());
        }
    }
}
