package io.cohort.protocol;

/**
 * A global transaction id: {@code <tc-address>:<sequence>}, e.g. {@code 10.0.0.5:8091:739216}.
 * Readable in logs, and it names the TC replica that created the transaction.
 */
public record Xid(String tcAddress, long sequence) {

    /** XIDs longer than this are refused on the wire (they cannot be ours). */
    public static final int MAX_LENGTH = 128;

    public Xid {
        if (tcAddress == null || tcAddress.isBlank()) {
            throw new IllegalArgumentException("XID needs the TC address");
        }
    }

    public static Xid parse(String text) {
        if (text == null || text.isEmpty() || text.length() > MAX_LENGTH) {
            throw new IllegalArgumentException("Malformed XID '" + text
                    + "': expected <tc-host>:<tc-port>:<sequence>, at most " + MAX_LENGTH + " characters");
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException("Malformed XID '" + text + "': expected <tc-host>:<tc-port>:<sequence>");
        }
        try {
            return new Xid(text.substring(0, colon), Long.parseLong(text.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Malformed XID '" + text + "': the part after the last ':' must be a number");
        }
    }

    @Override
    public String toString() {
        return tcAddress + ':' + sequence;
    }
}
