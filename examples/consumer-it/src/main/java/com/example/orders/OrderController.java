package com.example.orders;

import java.util.Map;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

@RestController
public class OrderController {

    /** Boxed flag: Jackson 3 refuses a missing primitive, and most requests leave it out. */
    public record OrderRequest(String item, int quantity, Boolean failAfterReserve) {
    }

    private final OrderService service;

    public OrderController(OrderService service) {
        this.service = service;
    }

    @PostMapping("/orders")
    public Map<String, Long> place(@RequestBody OrderRequest request) {
        long id = service.place(request.item(), request.quantity(), Boolean.TRUE.equals(request.failAfterReserve()));
        return Map.of("id", id);
    }
}
