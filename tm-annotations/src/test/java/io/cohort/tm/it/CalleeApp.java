package io.cohort.tm.it;

import io.cohort.client.XidContext;
import io.cohort.tm.GlobalTransactionPropagationException;
import io.cohort.tm.GlobalTransactional;
import io.cohort.tm.Propagation;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;

/** The called service of the two-service tests: credits an account in its own database. */
@Configuration(proxyBeanMethods = false)
@EnableAutoConfiguration
class CalleeApp {

    /** Each method writes a credit row and answers with the XID it ran in ("none" outside one). */
    public static class Credits {
        private final JdbcTemplate jdbc;

        Credits(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        String write(int amount, boolean fail) {
            String xid = XidContext.current();
            jdbc.update("insert into credit(xid, amount) values (?, ?)", xid, amount);
            if (fail) {
                throw new IllegalStateException("callee fails after writing credit " + amount);
            }
            return xid == null ? "none" : xid;
        }

        @GlobalTransactional
        public String required(int amount, boolean fail) {
            return write(amount, fail);
        }

        @GlobalTransactional(propagation = Propagation.REQUIRES_NEW)
        public String requiresNew(int amount, boolean fail) {
            return write(amount, fail);
        }

        @GlobalTransactional(propagation = Propagation.SUPPORTS)
        public String supports(int amount, boolean fail) {
            return write(amount, fail);
        }

        @GlobalTransactional(propagation = Propagation.NOT_SUPPORTED)
        public String notSupported(int amount, boolean fail) {
            return write(amount, fail);
        }

        @GlobalTransactional(propagation = Propagation.MANDATORY)
        public String mandatory(int amount, boolean fail) {
            return write(amount, fail);
        }

        @GlobalTransactional(propagation = Propagation.NEVER)
        public String never(int amount, boolean fail) {
            return write(amount, fail);
        }
    }

    /** Registered as a member class of this configuration. */
    @RestController
    public static class Endpoints {
        private final Credits credits;

        Endpoints(Credits credits) {
            this.credits = credits;
        }

        @PostMapping("/credit/{mode}")
        public String credit(@PathVariable String mode, @RequestParam int amount,
                             @RequestParam(defaultValue = "false") boolean fail) {
            return switch (mode) {
                case "required" -> credits.required(amount, fail);
                case "requires-new" -> credits.requiresNew(amount, fail);
                case "supports" -> credits.supports(amount, fail);
                case "not-supported" -> credits.notSupported(amount, fail);
                case "mandatory" -> credits.mandatory(amount, fail);
                case "never" -> credits.never(amount, fail);
                default -> throw new IllegalArgumentException("unknown mode " + mode);
            };
        }

        /** The XID bound to the request thread, for leak checks. */
        @GetMapping("/xid")
        public String xid() {
            return String.valueOf(XidContext.current());
        }

        /** A buggy handler that binds an XID and never unbinds it. */
        @PostMapping("/leak")
        public String leak() {
            XidContext.bind("10.9.9.9:8091:666");
            return "leaked";
        }

        @ExceptionHandler(GlobalTransactionPropagationException.class)
        public ResponseEntity<String> propagation(GlobalTransactionPropagationException e) {
            return ResponseEntity.status(HttpStatus.CONFLICT).body(e.getMessage());
        }
    }

    @Bean
    Credits credits(JdbcTemplate jdbc) {
        return new Credits(jdbc);
    }
}
