package io.cohort.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Listens on a TC's port and accepts connections without ever speaking gRPC, to control a client's
 * connection attempts there: {@link #holding} keeps each attempt in gRPC's CONNECTING (no HTTP/2
 * handshake) until {@link #failHeldAttempts}, which fails it as a port that refused it would;
 * {@link #closingEach} fails each at once, as a TC that is down does. The port can be given back to
 * the TC ({@link #stopListening}) while held attempts stay held.
 */
final class PortWithoutTc implements AutoCloseable {

    private final ServerSocket listener;
    private final boolean hold;
    private final Thread acceptor;
    private final AtomicInteger accepted = new AtomicInteger();
    private final List<Socket> held = new CopyOnWriteArrayList<>();

    private PortWithoutTc(int port, boolean hold) {
        this.hold = hold;
        try {
            listener = new ServerSocket();
            // The port's earlier connections may still be in TIME_WAIT.
            listener.setReuseAddress(true);
            listener.bind(new InetSocketAddress("127.0.0.1", port));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot listen on " + port, e);
        }
        acceptor = new Thread(this::acceptUntilClosed, "port-without-tc-" + port);
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** Holds every connection attempt until {@link #failHeldAttempts}. */
    static PortWithoutTc holding(int port) {
        return new PortWithoutTc(port, true);
    }

    /** Closes every connection attempt as soon as it is accepted. */
    static PortWithoutTc closingEach(int port) {
        return new PortWithoutTc(port, false);
    }

    private void acceptUntilClosed() {
        while (!listener.isClosed()) {
            Socket attempt;
            try {
                attempt = listener.accept();
            } catch (IOException closed) {
                return; // stopListening
            }
            accepted.incrementAndGet();
            if (hold) {
                held.add(attempt);
            } else {
                close(attempt);
            }
        }
    }

    int port() {
        return listener.getLocalPort();
    }

    /** Connection attempts accepted so far. */
    int accepted() {
        return accepted.get();
    }

    /** Frees the port for the TC; the attempts held so far stay held. */
    void stopListening() {
        try {
            listener.close();
            // The kernel keeps the listening socket, and the port, until the accept in progress has returned.
            acceptor.join(Duration.ofSeconds(10).toMillis());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        if (acceptor.isAlive()) {
            throw new IllegalStateException("Still accepting on " + listener.getLocalPort() + " 10 s after closing");
        }
    }

    /** Closes the held attempts: the client sees each fail before its HTTP/2 handshake. */
    void failHeldAttempts() {
        held.forEach(PortWithoutTc::close);
    }

    private static void close(Socket attempt) {
        try {
            attempt.close();
        } catch (IOException alreadyClosed) {
            // nothing left to fail
        }
    }

    @Override
    public void close() {
        stopListening();
        failHeldAttempts();
    }
}
