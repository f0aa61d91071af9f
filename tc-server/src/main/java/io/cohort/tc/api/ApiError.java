package io.cohort.tc.api;

/** The body of every REST error: what went wrong, as a stable code and a sentence. */
public record ApiError(String code, String message) {
}
