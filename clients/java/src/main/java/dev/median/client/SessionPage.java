package dev.median.client;

import java.util.List;

/**
 * One page of {@link MedianClient#listSessionsPage}, ordered by session id.
 *
 * @param sessions the sessions of this page, at most the page size
 * @param nextPageToken the token of the next page; empty when this page is the last
 */
public record SessionPage(List<SessionSummary> sessions, String nextPageToken) {

  public SessionPage {
    sessions = List.copyOf(sessions);
  }
}
