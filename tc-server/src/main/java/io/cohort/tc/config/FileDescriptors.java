package io.cohort.tc.config;

import com.sun.management.UnixOperatingSystemMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;

/** The process's open file descriptors against its limit, where the JVM can tell (Unix). */
final class FileDescriptors {

    /** Below this many free descriptors the TC cannot be relied on to accept a connection or open a file. */
    private static final long RESERVE = 64;

    private FileDescriptors() {
    }

    static boolean nearlyExhausted() {
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof UnixOperatingSystemMXBean unix
                && unix.getMaxFileDescriptorCount() - unix.getOpenFileDescriptorCount() < RESERVE;
    }

    static String describe() {
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        return os instanceof UnixOperatingSystemMXBean unix
                ? unix.getOpenFileDescriptorCount() + " of " + unix.getMaxFileDescriptorCount() : "unknown";
    }
}
