package io.cohort.tc;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/** Entry point of the Cohort transaction coordinator. */
@SpringBootApplication
@ConfigurationPropertiesScan
public class TcServerApplication {

    public static void main(String[] args) {
        SpringApplication.run(TcServerApplication.class, args);
    }
}
