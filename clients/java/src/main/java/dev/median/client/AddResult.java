package dev.median.client;

import java.util.OptionalDouble;

/**
 * What {@link MedianClient#addNumbers} did: the numbers it added and the session's state after.
 *
 * @param sessionId the session added to
 * @param addedCount how many numbers this call added: every number it was given, each applied
 *     exactly once (numbers a broken stream had applied before a resume included, though the
 *     server's answer to that stream was lost)
 * @param numberCount how many numbers the session holds, after the last stream of the call
 * @param median the session's median then; empty exactly when {@code numberCount} is 0
 */
public record AddResult(
    String sessionId, long addedCount, long numberCount, OptionalDouble median) {}
