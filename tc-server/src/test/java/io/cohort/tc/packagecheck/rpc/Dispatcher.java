package io.cohort.tc.packagecheck.rpc;

import io.cohort.tc.packagecheck.coordinator.Driver;

/** A fixture for PackageDependenciesTest: the rpc side of a package cycle. */
public final class Dispatcher {
    public Driver driver() {
        return null;
    }
}
