package dev.median.client;

/**
 * A session's current count and median, as {@link MedianClient#getMedian} reads them.
 *
 * @param sessionId the session read
 * @param numberCount how many numbers it holds; at least 1
 * @param median the middle number for an odd count, the mean of the two middle numbers for an even
 *     count; always finite
 */
public record MedianResult(String sessionId, long numberCount, double median) {}
