package io.cohort.tc.api;

import io.cohort.tc.coordinator.CoordinatorException;
import io.cohort.tc.store.StoreUnavailableException;
import java.util.concurrent.CompletionException;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.method.annotation.MethodArgumentTypeMismatchException;

/** Maps refusals to HTTP statuses with an {@link ApiError} body. */
@RestControllerAdvice(assignableTypes = TransactionsController.class)
public class ApiExceptionHandler {

    @ExceptionHandler(CoordinatorException.class)
    ResponseEntity<ApiError> refused(CoordinatorException e) {
        HttpStatus status = switch (e.errorCode()) {
            case UNKNOWN_XID, UNKNOWN_BRANCH -> HttpStatus.NOT_FOUND;
            case INVALID_REQUEST, REQUEST_TOO_LARGE -> HttpStatus.BAD_REQUEST;
            default -> HttpStatus.CONFLICT;
        };
        return ResponseEntity.status(status).body(new ApiError(e.errorCode().name(), e.getMessage()));
    }

    @ExceptionHandler(CompletionException.class)
    ResponseEntity<ApiError> async(CompletionException e) {
        if (e.getCause() instanceof CoordinatorException ce) {
            return refused(ce);
        }
        if (e.getCause() instanceof StoreUnavailableException su) {
            return unavailable(su);
        }
        throw e;
    }

    @ExceptionHandler(StoreUnavailableException.class)
    ResponseEntity<ApiError> unavailable(StoreUnavailableException e) {
        return ResponseEntity.status(HttpStatus.SERVICE_UNAVAILABLE)
                .body(new ApiError("STORE_UNAVAILABLE", e.getMessage() + "; try again"));
    }

    @ExceptionHandler(MethodArgumentTypeMismatchException.class)
    ResponseEntity<ApiError> badParameter(MethodArgumentTypeMismatchException e) {
        return ResponseEntity.badRequest().body(new ApiError("INVALID_REQUEST", "Parameter '" + e.getName()
                + "' has a bad value '" + e.getValue() + "'"));
    }
}
