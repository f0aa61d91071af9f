package io.cohort.rm;

/**
 * {@link MariaDbAtModeIT} with MariaDB Connector/J preparing every statement on the server
 * ({@code useServerPrepStmts=true}): parameters and rows travel in the binary protocol, as
 * pgJDBC's binary transfer does for {@link AtModeIT}.
 */
class MariaDbServerPrepAtModeIT extends MariaDbAtModeIT {

    @Override
    String jdbcUrl(String mariaDbUrl) {
        return mariaDbUrl + "?useServerPrepStmts=true";
    }

    @Override
    boolean serverPrepared() {
        return true;
    }
}
