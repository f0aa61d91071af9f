package io.cohort.tm;

import io.cohort.protocol.v1.TransactionProtocol;

/** Which commit protocol the TC runs for a global transaction (DESIGN.md, "2PC and 3PC"). */
public enum CommitProtocol {
    /** {@code cohort.tm.default-protocol} on an annotation; the TC's own default when that is DEFAULT too. */
    DEFAULT(TransactionProtocol.PROTOCOL_UNSPECIFIED),
    TWO_PHASE(TransactionProtocol.TWO_PHASE),
    THREE_PHASE(TransactionProtocol.THREE_PHASE);

    private final TransactionProtocol wire;

    CommitProtocol(TransactionProtocol wire) {
        this.wire = wire;
    }

    public TransactionProtocol toWire() {
        return wire;
    }
}
