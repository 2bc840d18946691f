package dev.median.client;

import java.util.OptionalDouble;

/**
 * The server's answer to one request of a running-median call, after the request was applied.
 *
 * @param sessionId the session added to
 * @param requestId the request's id, {@code <writer>:<seq>}
 * @param requestSize how many numbers the request carried
 * @param addedCount how many numbers the answered attempt added: {@code requestSize}, or 0 when the
 *     request was resent after a broken stream and the server had already applied it
 * @param numberCount how many numbers the session holds after the request
 * @param median the session's median after the request; empty exactly when {@code numberCount} is 0
 */
public record RunningResult(
    String sessionId,
    String requestId,
    int requestSize,
    long addedCount,
    long numberCount,
    OptionalDouble median) {}
