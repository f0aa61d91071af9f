package com.example.inventory;

import io.cohort.tm.GlobalTransactional;
import io.cohort.tm.Propagation;
import org.springframework.http.HttpStatus;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ResponseStatusException;

@RestController
public class ReservationController {

    public record Reservation(String item, int quantity) {
    }

    private final JdbcTemplate jdbc;

    public ReservationController(JdbcTemplate jdbc) {
        this.jdbc = jdbc;
    }

    /** MANDATORY: a call without the caller's XID is refused instead of writing outside the global transaction. */
    @PostMapping("/reservations")
    @GlobalTransactional(propagation = Propagation.MANDATORY)
    @Transactional
    public void reserve(@RequestBody Reservation reservation) {
        int updated = jdbc.update("update stock set quantity = quantity - ? where item = ? and quantity >= ?",
                reservation.quantity(), reservation.item(), reservation.quantity());
        if (updated == 0) {
            throw new ResponseStatusException(HttpStatus.CONFLICT, "not enough " + reservation.item() + " in stock");
        }
    }
}
