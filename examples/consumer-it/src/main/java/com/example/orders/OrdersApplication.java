package com.example.orders;

import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.builder.SpringApplicationBuilder;

/** The calling service: places an order (Spring Data JPA) and reserves its stock at the inventory service. */
@SpringBootApplication
public class OrdersApplication {

    public static void main(String[] args) {
        new SpringApplicationBuilder(OrdersApplication.class).profiles("orders").run(args);
    }
}
