package io.cohort.tc.rpc;

import io.grpc.netty.shaded.io.netty.channel.Channel;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Caps the TCP connections of the gRPC port at accept time, before a byte is read: a connection
 * past the cap is closed at once, so silent connections cannot take every file descriptor of the
 * TC. (Those under the cap are closed by the handshake timeout and the idle limit.)
 */
final class ConnectionLimit {

    private final int max;
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicInteger refused = new AtomicInteger();

    ConnectionLimit(int max) {
        this.max = max;
    }

    int open() {
        return open.get();
    }

    int max() {
        return max;
    }

    /** Connections closed at accept because the cap was reached, since start. */
    int refused() {
        return refused.get();
    }

    boolean full() {
        return open.get() >= max;
    }

    /** The server channel of the gRPC port, counting what it accepts. */
    NioServerSocketChannel newServerChannel() {
        return new NioServerSocketChannel() {
            @Override
            protected int doReadMessages(List<Object> accepted) throws Exception {
                int before = accepted.size();
                int read = super.doReadMessages(accepted);
                for (int i = accepted.size() - 1; i >= before; i--) {
                    Channel child = (Channel) accepted.get(i);
                    if (open.incrementAndGet() > max) {
                        open.decrementAndGet();
                        refused.incrementAndGet();
                        accepted.remove(i);
                        read--;
                        child.unsafe().closeForcibly();
                    } else {
                        child.closeFuture().addListener(f -> open.decrementAndGet());
                    }
                }
                return read;
            }
        };
    }
}
