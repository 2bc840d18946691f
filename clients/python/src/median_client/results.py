"""What the client's calls answer: small frozen dataclasses built from the response messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from median.v1 import median_pb2


@dataclass(frozen=True, slots=True)
class _StreamResult:
    session_id: str
    added: int
    count: int
    median: float | None

    @classmethod
    def from_response(
        cls, response: median_pb2.AddNumbersResponse | median_pb2.RunningMedianResponse
    ) -> Self:
        median = response.median if response.HasField("median") else None
        return cls(response.session_id, response.added_count, response.number_count, median)


@dataclass(frozen=True, slots=True)
class AddResult(_StreamResult):
    """The answer to one `AddNumbers` stream.

    `added` is how many numbers the stream added, `count` how many the session holds in all,
    `median` the session's median, None exactly when `count` is 0.
    """


@dataclass(frozen=True, slots=True)
class RunningResult(_StreamResult):
    """The answer to one request of a `RunningMedian` stream, after that request was applied.

    `added` is how many numbers that request added, `count` how many the session holds in all,
    `median` the session's median, None exactly when `count` is 0.
    """


@dataclass(frozen=True, slots=True)
class MedianResult:
    """A session's current count (at least 1) and median."""

    session_id: str
    count: int
    median: float

    @classmethod
    def from_response(cls, response: median_pb2.GetMedianResponse) -> MedianResult:
        return cls(response.session_id, response.number_count, response.median)


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One session of the server and how many numbers it holds."""

    session_id: str
    count: int

    @classmethod
    def from_message(cls, message: median_pb2.SessionSummary) -> SessionSummary:
        return cls(message.session_id, message.number_count)
