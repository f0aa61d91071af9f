package io.cohort.tc.packagecheck.coordinator;

import io.cohort.tc.packagecheck.rpc.Dispatcher;

/** A fixture for PackageDependenciesTest: a coordinator class that reaches into rpc, and back. */
public final class Driver {
    public Dispatcher dispatcher() {
        return new Dispatcher();
    }
}
