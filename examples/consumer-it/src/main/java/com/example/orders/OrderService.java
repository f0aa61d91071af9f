package com.example.orders;

import io.cohort.tm.GlobalTransactional;
import java.util.Map;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Service;
import org.springframework.web.client.RestClient;

@Service
public class OrderService {

    private final PurchaseOrders orders;
    private final RestClient inventory;

    /** The RestClient comes from Boot's builder, which carries the Cohort-Xid header to the callee. */
    public OrderService(PurchaseOrders orders, RestClient.Builder rest, @Value("${inventory.url}") String inventoryUrl) {
        this.orders = orders;
        this.inventory = rest.baseUrl(inventoryUrl).build();
    }

    /** Saves the order, reserves the stock; {@code failAfterReserve} throws once both have written. */
    @GlobalTransactional(name = "place-order", timeoutMs = 30_000)
    public long place(String item, int quantity, boolean failAfterReserve) {
        PurchaseOrder order = orders.save(new PurchaseOrder(item, quantity));
        inventory.post().uri("/reservations").body(Map.of("item", item, "quantity", quantity))
                .retrieve().toBodilessEntity();
        if (failAfterReserve) {
            throw new IllegalStateException("order " + order.getId() + " refused after its stock was reserved");
        }
        return order.getId();
    }
}
