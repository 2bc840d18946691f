"""Exactly-once ingest: request ids `<writer>:<seq>`, the outbox of unacknowledged requests, and
when to resume after a failure.

The convention (the server's half is in the proto's comment on `request_id`): each ingest call
is one *writer* with a fresh id of 128 random bits; its requests carry `<writer>:<seq>`, seq 1,
2, 3, ... in the order they are sent. The server answers a request at or below the highest seq
it applied for that writer as a retry (`added_count` 0), so after a broken stream the client
opens a new one and resends, in order and with the same ids, every request it has no answer
for. A `RunningMedian` answer acknowledges its request; an `AddNumbers` stream acknowledges all
of its requests with its one answer at the end, so the client ends an `AddNumbers` stream every
`ADD_WINDOW` requests to keep that many at most in memory.

gRPC's own retry policy (a service config) cannot do this: it replays only calls that have not
yet received a response message, buffers at most a fixed number of bytes, and knows nothing
of which requests the server has applied; so the loop is written here.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc
from median.v1 import median_pb2

from median_client.errors import MedianError

DEFAULT_RETRY_FOR = 30.0  # seconds of resuming after a retryable failure
ADD_WINDOW = 256  # requests of one AddNumbers stream, acknowledged together at its end
RUNNING_WINDOW = 256  # RunningMedian requests sent ahead of their answers
FIRST_BACKOFF = 0.1  # seconds before the first resume; doubles up to MAX_BACKOFF, with jitter
MAX_BACKOFF = 2.0
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})

# Channel options so that gRPC itself reconnects about as fast as the resume loop retries
# (its defaults wait 1 s, then up to 120 s, between connection attempts). Not
# `grpc.min_reconnect_backoff_ms`: gRPC also takes it as the time a connection attempt may
# take (20 s by default), and a busy server needs more than a fraction of a second.
RECONNECT_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
)

Request = TypeVar("Request", bound=median_pb2.AddNumbersRequest | median_pb2.RunningMedianRequest)


def new_writer_id() -> str:
    """A fresh writer id: 128 random bits, base64url without padding (22 characters)."""
    return secrets.token_urlsafe(16)


# What gRPC core reports for a stream that a proxy reset with RST_STREAM INTERNAL_ERROR: Envoy
# does that to a stream whose shard died after its answers had started.
PROXY_RESET = "Received RST_STREAM with error code 2"
# What gRPC core sometimes reports, as UNKNOWN, for a call whose connection closed under it (a
# server killed mid-call) instead of UNAVAILABLE: grpc/grpc#34076, open at grpcio 1.85.1.
STREAM_REMOVED = "Stream removed"


def is_retryable(error: grpc.RpcError) -> bool:
    """Whether a failed stream may be resumed: `UNAVAILABLE` (the server is down, restarting or
    draining, or the connection broke under the call), the `INTERNAL` that gRPC makes of a
    stream reset by a proxy (never one the server sent: those carry no RST_STREAM), or the
    `UNKNOWN: Stream removed` that gRPC makes of a connection that closed under the call. Only
    a status without trailing metadata counts for those two: the server's own come with it.
    Refusals never are, and neither is a failed TLS handshake (gRPC reports it as UNAVAILABLE
    too, but a certificate that does not verify stays so)."""
    code: grpc.StatusCode = error.code()
    details: str = error.details() or ""
    if code == grpc.StatusCode.INTERNAL:
        return PROXY_RESET in details and not error.trailing_metadata()
    if code == grpc.StatusCode.UNKNOWN:
        return details == STREAM_REMOVED and not error.trailing_metadata()
    return code in RETRYABLE and "handshake failed" not in details.lower()


def made_by_an_earlier_attempt(error: grpc.RpcError, chosen_here: bool, retried: bool) -> bool:
    """Whether a retried `CreateSession` that fails `ALREADY_EXISTS` found the session an earlier
    attempt made: only for an id the library chose (128 random bits), never a caller's."""
    return chosen_here and retried and error.code() == grpc.StatusCode.ALREADY_EXISTS


@dataclass
class Backoff:
    """When to resume: exponential backoff with full jitter, within `retry_for` seconds of the
    first failure since the last answer, and never past the call's `deadline`."""

    retry_for: float
    deadline: float
    clock: Callable[[], float]
    rng: random.Random
    _delay: float = FIRST_BACKOFF
    _give_up_at: float | None = None

    def progressed(self) -> None:
        """An answer arrived: the next failure starts a new outage."""
        self._delay = FIRST_BACKOFF
        self._give_up_at = None

    def pause_before_retry(self, error: grpc.RpcError) -> float:
        """Seconds to wait before trying again after `error`; raises it as `MedianError` when
        it is not retryable or the time to resume has run out."""
        if not is_retryable(error):
            raise MedianError.from_rpc_error(error) from error
        now = self.clock()
        if self._give_up_at is None:
            self._give_up_at = now + self.retry_for
        limit = min(self._give_up_at, self.deadline)
        if now >= limit:
            raise MedianError.from_rpc_error(error) from error
        pause = min(self.rng.uniform(self._delay / 2, self._delay), limit - now)
        self._delay = min(self._delay * 2, MAX_BACKOFF)
        return pause

    def remaining(self) -> float:
        """Seconds left until the call's deadline; 0 or less once it has passed (gRPC then
        fails the stream with DEADLINE_EXCEEDED at once)."""
        return self.deadline - self.clock()


class Outbox(Generic[Request]):
    """The requests of one writer that have no answer yet, in the order they were sent.

    Not thread-safe by itself: the blocking and the asyncio client each guard it with their
    own lock. Each attempt (a stream) reads it from its first unacknowledged request on; an
    attempt that a newer one replaced sends nothing more.
    """

    def __init__(self, message: type[Request], session_id: str, writer: str, window: int) -> None:
        self._message: type[Request] = message
        self._session_id = session_id
        self.writer = writer
        self.window = window
        self._unacked: deque[Request] = deque()
        self._first_seq = 1  # the seq of _unacked[0]
        self.next_seq = 1  # the seq the next new request gets
        self.attempt = 0
        self._sent_through = 0  # the last seq the current attempt sent
        self.exhausted = False  # the numbers' source has no more batches
        self.acknowledged_numbers = 0  # numbers in the requests answered so far

    def begin_attempt(self) -> int:
        self.attempt += 1
        self._sent_through = self._first_seq - 1
        return self.attempt

    def first_unacked(self) -> int:
        return self._first_seq

    def has(self, seq: int) -> bool:
        return seq < self.next_seq

    def send(self, seq: int) -> Request:
        """The request `seq`, which the current attempt sends next."""
        self._sent_through = seq
        return self._unacked[seq - self._first_seq]

    def full(self) -> bool:
        return self.next_seq - self._first_seq >= self.window

    def pending(self) -> int:
        return len(self._unacked)

    def done(self) -> bool:
        """Whether the source has no more batches and every request was answered."""
        return self.exhausted and not self._unacked

    def add(self, batch: Sequence[float]) -> None:
        """Files the next batch as a new request (the next seq)."""
        self._unacked.append(
            self._message(
                session_id=self._session_id,
                numbers=batch,
                request_id=f"{self.writer}:{self.next_seq}",
            )
        )
        self.next_seq += 1

    def acknowledge(self, count: int = 1) -> None:
        """The oldest `count` requests were answered."""
        for _ in range(count):
            self.acknowledged_numbers += len(self._unacked.popleft().numbers)
            self._first_seq += 1

    def acknowledge_sent(self) -> None:
        """An `AddNumbers` answer: every request the current attempt sent was applied."""
        self.acknowledge(self._sent_through - self._first_seq + 1)
