package io.cohort.client;

import io.grpc.ChannelLogger;
import java.text.MessageFormat;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * What gRPC's channels log about their connectivity (state changes, connection attempts, backoffs
 * interrupted) while it is open, kept in memory for a failure message: a test of reconnection that
 * fails once in many runs then says what the channel did.
 */
final class GrpcChannelLog extends Handler implements AutoCloseable {

    private final Logger logger = Logger.getLogger(ChannelLogger.class.getName());
    private final Level levelBefore = logger.getLevel();
    private final boolean parentHandlersBefore = logger.getUseParentHandlers();
    private final List<String> lines = new ArrayList<>();

    private GrpcChannelLog() { // a Handler takes every level unless told otherwise
    }

    static GrpcChannelLog capture() {
        GrpcChannelLog log = new GrpcChannelLog();
        log.logger.setUseParentHandlers(false); // kept here only, not printed by every passing test
        log.logger.addHandler(log);
        log.logger.setLevel(Level.ALL);
        return log;
    }

    @Override
    public synchronized void publish(LogRecord record) {
        Object[] parameters = record.getParameters();
        String message = parameters == null ? record.getMessage()
                : MessageFormat.format(record.getMessage(), parameters);
        lines.add(Instant.ofEpochMilli(record.getMillis()) + " [" + record.getLongThreadID() + "] " + message);
    }

    /** The first line logged so far that contains {@code text}, or null. */
    synchronized String firstLineWith(String text) {
        return lines.stream().filter(line -> line.contains(text)).findFirst().orElse(null);
    }

    synchronized boolean contains(String text) {
        return firstLineWith(text) != null;
    }

    @Override
    public synchronized String toString() {
        return String.join("\n", lines);
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
        logger.removeHandler(this);
        logger.setLevel(levelBefore);
        logger.setUseParentHandlers(parentHandlersBefore);
    }
}
