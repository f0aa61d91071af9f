package com.example.inventory;

import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.builder.SpringApplicationBuilder;

/** The called service: reserves stock with JdbcTemplate, only inside the caller's global transaction. */
@SpringBootApplication
public class InventoryApplication {

    public static void main(String[] args) {
        new SpringApplicationBuilder(InventoryApplication.class).profiles("inventory").run(args);
    }
}
