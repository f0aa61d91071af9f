package io.cohort.sample.bank;

import static org.assertj.core.api.Assertions.assertThat;

import io.cohort.sample.bank.BankController.TransferRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.json.JsonMapper;

/**
 * Every transfer body README.md tells the user to POST (the demo prints the same commands) is a
 * request the bank accepts: read with Jackson 3's defaults, as Spring Boot's MVC reads it.
 */
class ReadmeTransferRequestsTest {

    @Test
    void theReadmesCurlBodiesAreAcceptedTransferRequests() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher body = Pattern.compile("-d '(\\{\"from\".*?\\})'").matcher(readme);
        List<TransferRequest> requests = new ArrayList<>();
        JsonMapper json = JsonMapper.builder().build();
        while (body.find()) {
            requests.add(json.readValue(body.group(1), TransferRequest.class));
        }

        assertThat(requests).extracting(TransferRequest::from, TransferRequest::amount, TransferRequest::failInPeer)
                .containsExactly(org.assertj.core.groups.Tuple.tuple(1L, 500L, null),
                        org.assertj.core.groups.Tuple.tuple(1L, 500L, true));
    }
}
