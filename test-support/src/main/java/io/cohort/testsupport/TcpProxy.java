package io.cohort.testsupport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A TCP proxy on 127.0.0.1 in front of a real server (the TC), to fail the network in tests without
 * touching the server:
 * <ul>
 *   <li>{@link #pauseFor}: bytes keep their connections but are held in both directions for a while,
 *       then delivered (an answer later than the caller's deadline);</li>
 *   <li>{@link #blackhole()}: every connection is closed, new ones are accepted and never answered
 *       (a partition: calls hang until their deadline and the server hears nothing);</li>
 *   <li>{@link #cut()}: every connection is closed and new ones are closed at once (callers hear
 *       UNAVAILABLE quickly; the server hears nothing);</li>
 *   <li>{@link #heal()}: drops whatever was held and forwards again.</li>
 * </ul>
 */
public final class TcpProxy implements AutoCloseable {

    private enum Mode { FORWARD, BLACKHOLE, CUT }

    private final ServerSocket server;
    private final String targetHost;
    private final int targetPort;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private final Object pauseLock = new Object();
    private volatile Mode mode = Mode.FORWARD;
    /** System.nanoTime() until which bytes are held; 0 when not paused. */
    private long pausedUntil;
    private volatile boolean closed;

    public TcpProxy(String targetHost, int targetPort) throws IOException {
        this.server = new ServerSocket();
        this.server.bind(new InetSocketAddress("127.0.0.1", 0));
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        Thread acceptor = new Thread(this::acceptLoop, "tcp-proxy-" + port());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    public String address() {
        return "127.0.0.1:" + port();
    }

    /** Holds every byte, both ways, for {@code duration}, then delivers them in order on the same connections. */
    public void pauseFor(Duration duration) {
        synchronized (pauseLock) {
            pausedUntil = System.nanoTime() + duration.toNanos();
        }
    }

    /** Breaks every connection; new ones are accepted and left silent. */
    public void blackhole() {
        mode = Mode.BLACKHOLE;
        closeAll();
    }

    /** Breaks every connection; new ones are closed as soon as they are accepted. */
    public void cut() {
        mode = Mode.CUT;
        closeAll();
    }

    /** Forwards again; connections accepted while broken are closed so clients reconnect. */
    public void heal() {
        mode = Mode.FORWARD;
        synchronized (pauseLock) {
            pausedUntil = 0;
            pauseLock.notifyAll();
        }
        closeAll();
    }

    private void closeAll() {
        for (Socket s : sockets) {
            closeQuietly(s);
        }
        sockets.clear();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                if (mode == Mode.CUT) {
                    closeQuietly(client);
                    continue;
                }
                sockets.add(client);
                if (mode == Mode.BLACKHOLE) {
                    continue; // accepted, never answered
                }
                Socket upstream = new Socket();
                try {
                    upstream.connect(new InetSocketAddress(targetHost, targetPort), 2000);
                } catch (IOException e) {
                    closeQuietly(client);
                    continue;
                }
                sockets.add(upstream);
                pump(client, upstream);
                pump(upstream, client);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private void pump(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16 * 1024];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    awaitUnpaused();
                    if (mode != Mode.FORWARD) {
                        break;
                    }
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException ignored) {
                // one side closed
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                closeQuietly(from);
                closeQuietly(to);
                sockets.remove(from);
                sockets.remove(to);
            }
        }, "tcp-proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    private void awaitUnpaused() throws InterruptedException {
        synchronized (pauseLock) {
            long left;
            while ((left = pausedUntil - System.nanoTime()) > 0 && !closed) {
                pauseLock.wait(Math.max(1, left / 1_000_000));
            }
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        closeAll();
        synchronized (pauseLock) {
            pauseLock.notifyAll();
        }
    }
}
