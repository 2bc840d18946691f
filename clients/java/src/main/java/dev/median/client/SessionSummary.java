package dev.median.client;

/**
 * One session of {@link MedianClient#listSessions}.
 *
 * @param sessionId the session's id
 * @param numberCount how many numbers it holds, zero or more
 */
public record SessionSummary(String sessionId, long numberCount) {}
