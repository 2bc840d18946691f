"""`MedianClient`: the blocking client, on a `grpc.Channel`."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Generic, Self

import grpc
from median.v1 import median_pb2, median_pb2_grpc

from median_client.batching import DEFAULT_BATCH_SIZE, batched, check_batch_size
from median_client.errors import MedianError, raising_median_error
from median_client.results import AddResult, MedianResult, RunningResult, SessionSummary
from median_client.resume import (
    ADD_WINDOW,
    DEFAULT_RETRY_FOR,
    RECONNECT_OPTIONS,
    RUNNING_WINDOW,
    Backoff,
    Outbox,
    Request,
    made_by_an_earlier_attempt,
    new_writer_id,
)
from median_client.routing import new_session_id, routing_metadata
from median_client.security import Metadata, connect

DEFAULT_TIMEOUT = 10.0
DEFAULT_STREAM_TIMEOUT = 600.0
DEFAULT_PAGE_SIZE = 100


class MedianClient:
    """A blocking client of `median.v1.MedianService`.

    Give a `target` ("host:port") and the client opens and closes its own channel, or give an
    open `channel`, which stays yours to close. Every call names its session in the
    `median-session-id` metadata, has a deadline (`timeout` seconds for unary calls,
    `stream_timeout` for streams) and raises `MedianError` when it fails.

    The channel the client opens is plaintext unless TLS is asked for: `root_certificates` (PEM
    of the CA that signed the server's certificate; None trusts the system's roots when another
    TLS setting is given), `certificate_chain` with `private_key` (PEM of a client certificate,
    for servers that require one), or ready-made `credentials`. `token` is sent as
    `authorization: Bearer <token>` on every call: as call credentials over TLS, as plain
    metadata on a plaintext channel or a given `channel`.

    Ingest is exactly-once (see `add_numbers`): after `UNAVAILABLE` or a broken connection the
    client resumes the stream for up to `retry_for` seconds (0: never), within the call's
    deadline.

        with MedianClient("127.0.0.1:50051") as client:
            session_id = client.create_session()
            client.add_numbers(session_id, [1.0, 5.0, 2.0])
            print(client.get_median(session_id).median)  # 2.0
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        channel: grpc.Channel | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
        retry_for: float = DEFAULT_RETRY_FOR,
    ) -> None:
        if retry_for < 0:
            raise ValueError(f"retry_for must be 0 or more seconds, not {retry_for}")
        connection = connect(
            target,
            channel,
            insecure_channel=lambda target: grpc.insecure_channel(
                target, options=RECONNECT_OPTIONS
            ),
            secure_channel=lambda target, credentials: grpc.secure_channel(
                target, credentials, options=RECONNECT_OPTIONS
            ),
            credentials=credentials,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
            token=token,
        )
        self._owns_channel = connection.owns_channel
        self._call_metadata: Metadata = connection.call_metadata
        self._channel = connection.channel
        self._stub = median_pb2_grpc.MedianServiceStub(self._channel)
        self._timeout = timeout
        self._stream_timeout = stream_timeout
        self._retry_for = retry_for
        self._rng = random.Random()

    def _metadata(self, session_id: str) -> Metadata:
        """A call's metadata: the routing header, and the bearer token unless TLS carries it."""
        return routing_metadata(session_id) + self._call_metadata

    def close(self) -> None:
        """Closes the channel if the client opened it."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def create_session(self, session_id: str | None = None) -> str:
        """Makes a new, empty session and returns its id.

        Without `session_id` the client picks one (128 random bits, URL-safe), so that the
        routing header names the session even on this first call. Retried after a retryable
        failure (the server restarting, its shard briefly down) for up to `retry_for` seconds.
        """
        chosen_here = session_id is None
        session_id = session_id or new_session_id()
        backoff, retried = self._backoff(), False
        while True:
            try:
                response = self._stub.CreateSession(
                    median_pb2.CreateSessionRequest(session_id=session_id),
                    timeout=self._timeout,
                    metadata=self._metadata(session_id),
                )
                return str(response.session_id)
            except grpc.RpcError as error:
                if made_by_an_earlier_attempt(error, chosen_here, retried):
                    return session_id
                pause = backoff.pause_before_retry(error)
            time.sleep(pause)
            retried = True

    def add_numbers(
        self,
        session_id: str,
        numbers: Iterable[float],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        writer_id: str | None = None,
    ) -> AddResult:
        """Streams `numbers` into the session, each exactly once; the session's new state.

        The iterable is read lazily, `batch_size` numbers per request (no numbers: one empty
        request), on `AddNumbers` streams of at most 256 requests each. Every request carries
        the id `<writer>:<seq>` (`writer_id`, by default a new random one per call; give one only to
        resend the same numbers after a failed call: new numbers under a used writer id are taken
        for retries and not added). After
        `UNAVAILABLE` or a broken connection the client reopens a stream, with backoff, and
        resends every request that no answer acknowledged yet; the server answers those it had
        already applied without applying them again. It keeps trying for `retry_for` seconds
        after a failure, never past `stream_timeout` for the whole call, then raises the last
        error (`UNAVAILABLE` or `DEADLINE_EXCEEDED`). A refused request (`INVALID_ARGUMENT`,
        `NOT_FOUND`, ...) is never resent: it raises `MedianError`, and the requests before it
        stay applied. `added` of the answer counts the numbers this call added, those of
        requests applied before a resume included; with a `writer_id` of your own it counts
        what the server reported as newly added, which leaves out requests that a stream
        before a resume had applied (the server cannot tell those from a previous call's).
        """
        check_batch_size(batch_size)
        outbox = Outbox(
            median_pb2.AddNumbersRequest, session_id, writer_id or new_writer_id(), ADD_WINDOW
        )
        feed = _Feed(outbox, batched(numbers, batch_size), ends_at_window=True)
        backoff = self._backoff()
        added = 0
        while True:
            attempt = feed.begin_attempt()
            try:
                response = self._stub.AddNumbers(
                    feed.requests(attempt),
                    timeout=backoff.remaining(),
                    metadata=self._metadata(session_id),
                )
            except grpc.RpcError as error:
                self._pause_or_raise(feed, error, backoff)
                continue
            if feed.source_error is not None:
                raise feed.source_error
            backoff.progressed()
            added += response.added_count
            if feed.acknowledge_sent():
                result = AddResult.from_response(response)
                if writer_id is None:  # a new writer: whatever it applied, this call added
                    added = outbox.acknowledged_numbers
                return AddResult(result.session_id, added, result.count, result.median)

    def running_median(
        self,
        session_id: str,
        batches: Iterable[Sequence[float]],
        *,
        writer_id: str | None = None,
    ) -> Iterator[RunningResult]:
        """Sends each batch as one `RunningMedian` request; yields one result per request, in order.

        Exactly once, as `add_numbers`: requests carry `<writer>:<seq>`, and after a retryable
        failure the stream is reopened and every unanswered request resent, so each request
        yields exactly one result even across a resume (a resent request that the server had
        applied answers with `added` 0). The stream starts at the first `next()`; leaving the
        loop early cancels it (what the server had applied stays applied).
        """
        outbox = Outbox(
            median_pb2.RunningMedianRequest,
            session_id,
            writer_id or new_writer_id(),
            RUNNING_WINDOW,
        )
        feed = _Feed(outbox, iter(batches), ends_at_window=False)
        backoff = self._backoff()
        while True:
            attempt = feed.begin_attempt()
            responses = self._stub.RunningMedian(
                feed.requests(attempt),
                timeout=backoff.remaining(),
                metadata=self._metadata(session_id),
            )
            try:
                for response in responses:
                    feed.acknowledge_one()
                    backoff.progressed()
                    yield RunningResult.from_response(response)
                if feed.source_error is not None:
                    raise feed.source_error
                if feed.done():
                    return
                raise MedianError(  # the server ended the stream without answering every request
                    grpc.StatusCode.INTERNAL,
                    f"the stream ended with {feed.pending()} requests unanswered",
                )
            except grpc.RpcError as error:
                self._pause_or_raise(feed, error, backoff)
            finally:
                feed.stop(attempt)
                # Ends the call if the caller stopped early; a no-op once the call has ended.
                responses.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leaves it untyped

    def _backoff(self) -> Backoff:
        return Backoff(
            self._retry_for, time.monotonic() + self._stream_timeout, time.monotonic, self._rng
        )

    def _pause_or_raise(self, feed: _Feed[Request], error: grpc.RpcError, backoff: Backoff) -> None:
        """After a failed stream: waits before resuming, or raises what the caller should see."""
        feed.stop(feed.attempt())
        if feed.source_error is not None:
            raise feed.source_error
        time.sleep(backoff.pause_before_retry(error))

    def get_median(self, session_id: str) -> MedianResult:
        """The session's count and median; `FAILED_PRECONDITION` while it holds no numbers."""
        with raising_median_error():
            response = self._stub.GetMedian(
                median_pb2.GetMedianRequest(session_id=session_id),
                timeout=self._timeout,
                metadata=self._metadata(session_id),
            )
        return MedianResult.from_response(response)

    def delete_session(self, session_id: str) -> None:
        """Removes the session and its numbers."""
        with raising_median_error():
            self._stub.DeleteSession(
                median_pb2.DeleteSessionRequest(session_id=session_id),
                timeout=self._timeout,
                metadata=self._metadata(session_id),
            )

    def list_sessions(self, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[SessionSummary]:
        """Every session of the server, ordered by id, fetched `page_size` at a time."""
        page_token = ""
        while True:
            with raising_median_error():
                page = self._stub.ListSessions(
                    median_pb2.ListSessionsRequest(page_size=page_size, page_token=page_token),
                    timeout=self._timeout,
                    metadata=self._call_metadata or None,
                )
            for session in page.sessions:
                yield SessionSummary.from_message(session)
            page_token = page.next_page_token
            if not page_token:
                return


class _Feed(Generic[Request]):
    """Feeds an `Outbox` to the streams of the blocking client, one stream (attempt) at a time.

    gRPC reads a stream's requests on a thread of its own, and the thread of a failed stream
    may still be reading when the next stream starts; so the outbox is read under a lock, and
    the numbers' source by one reader at a time. Whatever a stale reader took from the source
    is filed in the outbox, in order, for the current stream to send.
    """

    def __init__(
        self, outbox: Outbox[Request], source: Iterator[Sequence[float]], *, ends_at_window: bool
    ) -> None:
        self._outbox: Outbox[Request] = outbox
        self._source = source
        self._ends_at_window = ends_at_window  # AddNumbers: half-close after a full window
        self._state = threading.Condition()
        self._source_lock = threading.Lock()
        self.source_error: BaseException | None = None

    def begin_attempt(self) -> int:
        with self._state:
            return self._outbox.begin_attempt()

    def attempt(self) -> int:
        with self._state:
            return self._outbox.attempt

    def stop(self, attempt: int) -> None:
        """Makes `attempt` stale, so its reader sends nothing more."""
        with self._state:
            if self._outbox.attempt == attempt:
                self._outbox.begin_attempt()
            self._state.notify_all()

    def requests(self, attempt: int) -> Iterator[Request]:
        """The requests of one stream: the unacknowledged ones, then new ones, in order."""
        outbox = self._outbox
        seq = 0
        while True:
            with self._state:
                while True:
                    if outbox.attempt != attempt:
                        return
                    seq = max(seq, outbox.first_unacked())
                    if outbox.has(seq) or outbox.exhausted:
                        break
                    if not outbox.full():
                        break
                    if self._ends_at_window:
                        return
                    self._state.wait(0.1)  # RunningMedian: wait for answers to make room
                if outbox.has(seq):
                    request = outbox.send(seq)
                elif outbox.exhausted:
                    return
                else:
                    request = None
            if request is not None:
                seq += 1
                yield request
            elif not self._pull():
                return

    def _pull(self) -> bool:
        """Files the source's next batch in the outbox; False when the source failed."""
        with self._source_lock:
            with self._state:
                if self._outbox.exhausted or self.source_error is not None:
                    return self.source_error is None
            try:
                batch = next(self._source, None)
                with self._state:
                    if batch is None:
                        self._outbox.exhausted = True
                    else:
                        self._outbox.add(batch)  # TypeError for what is not a number
                    self._state.notify_all()
            except Exception as error:  # the caller's iterable failed: end, and raise it
                with self._state:
                    self.source_error = error
                    self._outbox.begin_attempt()
                return False
            return True

    def acknowledge_sent(self) -> bool:
        """An AddNumbers answer acknowledged every request its stream sent; True when that was
        the last of the source."""
        with self._state:
            self._outbox.acknowledge_sent()
            return self._outbox.done()

    def acknowledge_one(self) -> None:
        with self._state:
            self._outbox.acknowledge()
            self._state.notify_all()

    def done(self) -> bool:
        with self._state:
            return self._outbox.done()

    def pending(self) -> int:
        with self._state:
            return self._outbox.pending()
