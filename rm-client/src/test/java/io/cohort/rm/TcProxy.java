package io.cohort.rm;

import io.cohort.protocol.v1.BranchCommand;
import io.cohort.protocol.v1.TcMessage;
import io.cohort.testsupport.TcProcess;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A TCP proxy between one RM and the TC, on 127.0.0.1, that can fail the network at a chosen
 * protocol step. It reads the HTTP/2 frames the TC sends (gRPC over h2c), decodes the gRPC messages
 * of DATA frames as {@link TcMessage}s, and when a branch command matches {@link #failOn} it stops
 * before forwarding that frame:
 * <ul>
 *   <li>{@link Mode#CUT}: every connection is closed and new ones are closed at once (the RM sees
 *       UNAVAILABLE quickly);</li>
 *   <li>{@link Mode#BLACKHOLE}: connections stay open but nothing passes either way, and new ones
 *       are accepted and never answered, even with the TC down (nobody hears an error; calls time out).</li>
 * </ul>
 * {@link #heal()} closes whatever was held and forwards again.
 */
final class TcProxy implements AutoCloseable {

    enum Mode { FORWARD, CUT, BLACKHOLE }

    private final int targetPort;
    private final ServerSocket server;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile Mode mode = Mode.FORWARD;
    private volatile Predicate<BranchCommand> trigger;
    private volatile Mode triggerMode;
    private volatile CountDownLatch triggered = new CountDownLatch(1);
    private volatile boolean closed;

    TcProxy(int targetPort) throws IOException {
        this.targetPort = targetPort;
        this.server = new ServerSocket(TcProcess.freePort(), 50, InetAddress.getLoopbackAddress());
        Thread accept = new Thread(this::acceptLoop, "tc-proxy-accept-" + server.getLocalPort());
        accept.setDaemon(true);
        accept.start();
    }

    String address() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    int port() {
        return server.getLocalPort();
    }

    /** When the TC sends a command matching {@code when}, switch to {@code mode} without forwarding it. */
    void failOn(Predicate<BranchCommand> when, Mode failMode) {
        triggered = new CountDownLatch(1);
        triggerMode = failMode;
        trigger = when;
    }

    boolean awaitTriggered(long seconds) throws InterruptedException {
        return triggered.await(seconds, TimeUnit.SECONDS);
    }

    void set(Mode newMode) {
        mode = newMode;
        if (newMode == Mode.CUT) {
            closeAll();
        }
    }

    /** Drops whatever was held and forwards again (the RM reconnects). */
    void heal() {
        trigger = null;
        if (mode != Mode.FORWARD) {
            closeAll(); // first, so nothing held back slips through
        }
        mode = Mode.FORWARD;
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                if (mode == Mode.CUT) {
                    client.close();
                    continue;
                }
                sockets.add(client);
                if (mode == Mode.BLACKHOLE) {
                    continue; // accepted and never answered, whether or not the TC is up (heal closes it)
                }
                Socket upstream;
                try {
                    upstream = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                } catch (IOException e) {
                    close(client);
                    continue;
                }
                sockets.add(upstream);
                pump(client.getInputStream(), upstream.getOutputStream(), false, client, upstream);
                pump(upstream.getInputStream(), client.getOutputStream(), true, client, upstream);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private void pump(InputStream in, OutputStream out, boolean fromTc, Socket a, Socket b) {
        Thread t = new Thread(() -> {
            try {
                if (fromTc) {
                    framesFromTc(new DataInputStream(in), out);
                } else {
                    byte[] buf = new byte[16384];
                    int n;
                    while ((n = in.read(buf)) >= 0) {
                        holdWhileBlackholed();
                        if (mode == Mode.CUT) {
                            break;
                        }
                        out.write(buf, 0, n);
                        out.flush();
                    }
                }
            } catch (IOException | InterruptedException ignored) {
                // the connection ended
            } finally {
                close(a);
                close(b);
            }
        }, "tc-proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    /** Forwards HTTP/2 frames one by one, looking into the gRPC messages of DATA frames. */
    private void framesFromTc(DataInputStream in, OutputStream out) throws IOException, InterruptedException {
        Map<Integer, ByteArrayOutputStream> pending = new HashMap<>();
        byte[] header = new byte[9];
        while (true) {
            in.readFully(header);
            int length = ((header[0] & 0xff) << 16) | ((header[1] & 0xff) << 8) | (header[2] & 0xff);
            int type = header[3] & 0xff;
            int flags = header[4] & 0xff;
            int stream = ((header[5] & 0x7f) << 24) | ((header[6] & 0xff) << 16) | ((header[7] & 0xff) << 8) | (header[8] & 0xff);
            byte[] payload = new byte[length];
            in.readFully(payload);
            if (type == 0 && matches(pending.computeIfAbsent(stream, s -> new ByteArrayOutputStream()), payload, flags)) {
                Mode m = triggerMode;
                trigger = null;
                set(m);
                triggered.countDown();
            }
            holdWhileBlackholed();
            if (mode == Mode.CUT) {
                return;
            }
            out.write(header);
            out.write(payload);
            out.flush();
        }
    }

    /** Appends a DATA payload to its stream's buffer; true when a complete message holds a matching command. */
    private boolean matches(ByteArrayOutputStream buffer, byte[] payload, int flags) {
        int from = 0;
        int to = payload.length;
        if ((flags & 0x8) != 0 && payload.length > 0) { // PADDED
            from = 1;
            to = payload.length - (payload[0] & 0xff);
        }
        buffer.write(payload, from, Math.max(0, to - from));
        byte[] data = buffer.toByteArray();
        int pos = 0;
        boolean hit = false;
        while (data.length - pos >= 5) {
            int len = ((data[pos + 1] & 0xff) << 24) | ((data[pos + 2] & 0xff) << 16) | ((data[pos + 3] & 0xff) << 8)
                    | (data[pos + 4] & 0xff);
            if (data.length - pos - 5 < len) {
                break;
            }
            Predicate<BranchCommand> t = trigger;
            if (t != null) {
                try {
                    TcMessage m = TcMessage.parseFrom(java.util.Arrays.copyOfRange(data, pos + 5, pos + 5 + len));
                    List<BranchCommand> commands = m.hasCommands() ? m.getCommands().getCommandsList() : List.of();
                    hit |= commands.stream().anyMatch(t);
                } catch (IOException notOurs) {
                    // a unary answer, not a command batch
                }
            }
            pos += 5 + len;
        }
        buffer.reset();
        buffer.write(data, pos, data.length - pos);
        return hit;
    }

    private void holdWhileBlackholed() throws InterruptedException {
        while (mode == Mode.BLACKHOLE && !closed) {
            Thread.sleep(20);
        }
    }

    private void closeAll() {
        for (Socket s : sockets) {
            close(s);
        }
    }

    private void close(Socket s) {
        sockets.remove(s);
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        closeAll();
        server.close();
    }
}
