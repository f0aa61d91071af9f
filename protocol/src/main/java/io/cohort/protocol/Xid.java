package io.cohort.protocol;

import java.util.HexFormat;
import java.util.random.RandomGenerator;

/**
 * A global transaction id: {@code <tc-host>:<tc-port>:<tag>:<sequence>}, e.g.
 * {@code 10.0.0.5:8091:3f9a0c2e7b1d4a58:1732931704000123}. Readable in logs, and it names the TC replica
 * that created the transaction.
 *
 * <p>Address and sequence make it unique (the TC's counter never repeats a value); the tag, 64 bits
 * from a {@link java.security.SecureRandom}, makes it unguessable: a caller who knows one XID cannot
 * compute its neighbours, so it cannot commit, roll back or join a transaction it was not told about.
 * The tag sits before the sequence so that a parser that takes the number after the last {@code ':'}
 * (every Cohort client before the tag existed) still accepts it.
 *
 * <p><b>Made by the TM</b> (protocol minor 8): {@code <tc-host>:<tc-port>:<tag>:<sequence>} with a tag of
 * 128 random bits (32 hex digits) instead of 64, so the TC tells it from one it issued itself
 * ({@link #tmMade()}) and creates the transaction when it first hears of it instead of at a Begin call.
 * The address is that of the TC the TM talks to, the sequence the TM process's own counter; the 128 bits
 * alone make a collision between two TMs negligible and the XID unguessable. A parser from before minor 8
 * still accepts it (it reads the tag as part of the address, which no client uses).
 *
 * <p>XIDs written before the tag existed ({@code <tc-host>:<tc-port>:<sequence>}) still parse, with
 * an empty tag: a TC upgraded with transactions in flight must go on finishing them.
 */
public record Xid(String tcAddress, String tag, long sequence) {

    /** XIDs longer than this are refused on the wire (they cannot be ours); the RM's xid columns have this width. */
    public static final int MAX_LENGTH = 128;

    /** Hex digits of the tag: 64 random bits. */
    public static final int TAG_LENGTH = 16;

    /** Hex digits of the tag of an XID the TM made: 128 random bits. */
    public static final int TM_TAG_LENGTH = 32;

    /** The longest TC address a TM may write into the XIDs it makes. */
    public static final int MAX_TM_ADDRESS_LENGTH = MAX_LENGTH - 1 - TM_TAG_LENGTH - 1 - String.valueOf(Long.MAX_VALUE).length();

    /** The longest address a TC may write into its XIDs, leaving room for the tag and any sequence. */
    public static final int MAX_ADDRESS_LENGTH = MAX_LENGTH - 1 - TAG_LENGTH - 1 - String.valueOf(Long.MAX_VALUE).length();

    private static final String EXPECTED = "expected <tc-host>:<tc-port>:<tag>:<sequence>";

    public Xid {
        if (tcAddress == null || tcAddress.isBlank()) {
            throw new IllegalArgumentException("XID needs the TC address");
        }
        if (tag == null || !(tag.isEmpty() || isTag(tag))) {
            throw new IllegalArgumentException("XID tag '" + tag + "' must be " + TAG_LENGTH + " (or, made by a TM, "
                    + TM_TAG_LENGTH + ") lowercase hex digits");
        }
    }

    /** A new XID with a tag drawn from {@code random} (pass a {@link java.security.SecureRandom}). */
    public static Xid tagged(String tcAddress, long sequence, RandomGenerator random) {
        return new Xid(tcAddress, HexFormat.of().toHexDigits(random.nextLong()), sequence);
    }

    /**
     * A new XID made by a TM for the TC at {@code tcAddress}: a tag of 128 bits from {@code random} (pass a
     * {@link java.security.SecureRandom}) and the TM's own {@code sequence}.
     */
    public static Xid tmMade(String tcAddress, long sequence, RandomGenerator random) {
        // One draw of 16 bytes, not two of a long: each draw from the default SecureRandom (NativePRNG) takes
        // its global lock and mixes in /dev/urandom, about 1 µs under load; the TM makes one XID per transaction.
        byte[] tag = new byte[TM_TAG_LENGTH / 2];
        random.nextBytes(tag);
        return new Xid(tcAddress, HexFormat.of().formatHex(tag), sequence);
    }

    public static Xid parse(String text) {
        if (text == null || text.isEmpty() || text.length() > MAX_LENGTH) {
            throw new IllegalArgumentException("Malformed XID '" + text + "': " + EXPECTED + ", at most "
                    + MAX_LENGTH + " characters");
        }
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException("Malformed XID '" + text + "': " + EXPECTED);
        }
        long sequence;
        try {
            sequence = Long.parseLong(text, colon + 1, text.length(), 10);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Malformed XID '" + text + "': the part after the last ':' must be a number");
        }
        // The TC parses the XID of every call: the tag is looked at in place, and cut out only once it is one.
        int tagColon = text.lastIndexOf(':', colon - 1);
        if (tagColon > 0 && isTag(text, tagColon + 1, colon)) {
            return new Xid(text.substring(0, tagColon), text.substring(tagColon + 1, colon), sequence);
        }
        return new Xid(text.substring(0, colon), "", sequence); // written before XIDs had a tag
    }

    /** Whether a TM made this XID (protocol minor 8): the TC creates its transaction when it first hears of it. */
    public boolean tmMade() {
        return tag.length() == TM_TAG_LENGTH;
    }

    /** Whether this XID predates the tag (and so could be guessed from its neighbours). */
    public boolean legacy() {
        return tag.isEmpty();
    }

    private static boolean isTag(String s) {
        return isTag(s, 0, s.length());
    }

    /** Whether {@code s} from {@code start} to {@code end} (exclusive) is a tag. */
    private static boolean isTag(String s, int start, int end) {
        int length = end - start;
        if (length != TAG_LENGTH && length != TM_TAG_LENGTH) {
            return false;
        }
        for (int i = start; i < end; i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String toString() {
        return tag.isEmpty() ? tcAddress + ':' + sequence : tcAddress + ':' + tag + ':' + sequence;
    }
}
