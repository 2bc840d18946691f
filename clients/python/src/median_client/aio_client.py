"""`AsyncMedianClient`: the asyncio client, on a `grpc.aio.Channel`."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Generic, Self

import grpc
from median.v1 import median_pb2, median_pb2_grpc

from median_client.batching import (
    DEFAULT_BATCH_SIZE,
    abatched,
    as_async_iterable,
    check_batch_size,
)
from median_client.client import DEFAULT_PAGE_SIZE, DEFAULT_STREAM_TIMEOUT, DEFAULT_TIMEOUT
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


class AsyncMedianClient:
    """An asyncio client of `median.v1.MedianService`; the same calls as `MedianClient`.

    Make it inside a running event loop. Give a `target` and the client opens and closes its own
    `grpc.aio` channel, or give an open `channel`, which stays yours to close. TLS settings
    (`root_certificates`, `certificate_chain`, `private_key` or `credentials`) and `token` work
    as in `MedianClient`, and so does exactly-once ingest with `retry_for`.

        async with AsyncMedianClient("127.0.0.1:50051") as client:
            session_id = await client.create_session()
            async for result in client.running_median(session_id, [[1.0], [5.0, 2.0]]):
                print(result.count, result.median)  # 1 1.0, then 3 2.0
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        channel: grpc.aio.Channel | None = None,
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
            insecure_channel=lambda target: grpc.aio.insecure_channel(
                target, options=RECONNECT_OPTIONS
            ),
            secure_channel=lambda target, credentials: grpc.aio.secure_channel(
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

    async def close(self) -> None:
        """Closes the channel if the client opened it."""
        if self._owns_channel:
            await self._channel.close(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def create_session(self, session_id: str | None = None) -> str:
        """Makes a new, empty session and returns its id; the client picks one if not given.
        Retried as `MedianClient.create_session`."""
        chosen_here = session_id is None
        session_id = session_id or new_session_id()
        backoff, retried = self._backoff(), False
        while True:
            try:
                response = await self._stub.CreateSession(
                    median_pb2.CreateSessionRequest(session_id=session_id),
                    timeout=self._timeout,
                    metadata=self._metadata(session_id),
                )
                return str(response.session_id)
            except grpc.RpcError as error:
                if made_by_an_earlier_attempt(error, chosen_here, retried):
                    return session_id
                pause = backoff.pause_before_retry(error)
            await asyncio.sleep(pause)
            retried = True

    async def add_numbers(
        self,
        session_id: str,
        numbers: Iterable[float] | AsyncIterable[float],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        writer_id: str | None = None,
    ) -> AddResult:
        """Streams `numbers` (plain or async iterable, read lazily) into the session, each
        exactly once; the session's new state.

        As `MedianClient.add_numbers`: `batch_size` numbers per request, request ids
        `<writer>:<seq>`, resumed after a retryable failure for up to `retry_for` seconds.
        """
        check_batch_size(batch_size)
        outbox = Outbox(
            median_pb2.AddNumbersRequest, session_id, writer_id or new_writer_id(), ADD_WINDOW
        )
        feed = _AsyncFeed(outbox, abatched(numbers, batch_size), ends_at_window=True)
        backoff = self._backoff()
        added = 0
        while True:
            attempt = feed.begin_attempt()
            try:
                response = await self._stub.AddNumbers(
                    feed.requests(attempt),
                    timeout=backoff.remaining(),
                    metadata=self._metadata(session_id),
                )
            except grpc.RpcError as error:
                await self._pause_or_raise(feed, error, backoff)
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

    async def running_median(
        self,
        session_id: str,
        batches: Iterable[Sequence[float]] | AsyncIterable[Sequence[float]],
        *,
        writer_id: str | None = None,
    ) -> AsyncIterator[RunningResult]:
        """Sends each batch as one `RunningMedian` request; yields one result per request, in order.

        Exactly once across resumes, as `MedianClient.running_median`. Leaving the loop early
        cancels the stream (what the server had applied stays applied).
        """
        outbox = Outbox(
            median_pb2.RunningMedianRequest,
            session_id,
            writer_id or new_writer_id(),
            RUNNING_WINDOW,
        )
        feed = _AsyncFeed(outbox, as_async_iterable(batches), ends_at_window=False)
        backoff = self._backoff()
        while True:
            attempt = feed.begin_attempt()
            call = self._stub.RunningMedian(
                feed.requests(attempt),
                timeout=backoff.remaining(),
                metadata=self._metadata(session_id),
            )
            try:
                async for response in call:
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
                await self._pause_or_raise(feed, error, backoff)
            finally:
                feed.stop(attempt)
                call.cancel()

    def _backoff(self) -> Backoff:
        return Backoff(
            self._retry_for, time.monotonic() + self._stream_timeout, time.monotonic, self._rng
        )

    async def _pause_or_raise(
        self, feed: _AsyncFeed[Request], error: grpc.RpcError, backoff: Backoff
    ) -> None:
        """After a failed stream: waits before resuming, or raises what the caller should see."""
        feed.stop(feed.attempt())
        if feed.source_error is not None:
            raise feed.source_error
        await asyncio.sleep(backoff.pause_before_retry(error))

    async def get_median(self, session_id: str) -> MedianResult:
        """The session's count and median; `FAILED_PRECONDITION` while it holds no numbers."""
        with raising_median_error():
            response = await self._stub.GetMedian(
                median_pb2.GetMedianRequest(session_id=session_id),
                timeout=self._timeout,
                metadata=self._metadata(session_id),
            )
        return MedianResult.from_response(response)

    async def delete_session(self, session_id: str) -> None:
        """Removes the session and its numbers."""
        with raising_median_error():
            await self._stub.DeleteSession(
                median_pb2.DeleteSessionRequest(session_id=session_id),
                timeout=self._timeout,
                metadata=self._metadata(session_id),
            )

    async def list_sessions(
        self, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[SessionSummary]:
        """Every session of the server, ordered by id, fetched `page_size` at a time."""
        page_token = ""
        while True:
            with raising_median_error():
                page = await self._stub.ListSessions(
                    median_pb2.ListSessionsRequest(page_size=page_size, page_token=page_token),
                    timeout=self._timeout,
                    metadata=self._call_metadata or None,
                )
            for session in page.sessions:
                yield SessionSummary.from_message(session)
            page_token = page.next_page_token
            if not page_token:
                return


class _AsyncFeed(Generic[Request]):
    """Feeds an `Outbox` to the streams of the asyncio client, one stream (attempt) at a time.

    The request iterator of a failed stream may still be reading when the next stream starts;
    the source is read by one reader at a time, and whatever a stale reader took from it is
    filed in the outbox, in order, for the current stream to send.
    """

    def __init__(
        self,
        outbox: Outbox[Request],
        source: AsyncIterator[Sequence[float]],
        *,
        ends_at_window: bool,
    ) -> None:
        self._outbox: Outbox[Request] = outbox
        self._source = source
        self._ends_at_window = ends_at_window
        self._source_lock = asyncio.Lock()
        self._changed = asyncio.Event()  # set whenever an answer or a batch arrives
        self.source_error: BaseException | None = None

    def begin_attempt(self) -> int:
        return self._outbox.begin_attempt()

    def attempt(self) -> int:
        return self._outbox.attempt

    def stop(self, attempt: int) -> None:
        if self._outbox.attempt == attempt:
            self._outbox.begin_attempt()
        self._changed.set()

    async def requests(self, attempt: int) -> AsyncIterator[Request]:
        """The requests of one stream: the unacknowledged ones, then new ones, in order."""
        outbox = self._outbox
        seq = 0
        while outbox.attempt == attempt:
            seq = max(seq, outbox.first_unacked())
            if outbox.has(seq):
                request = outbox.send(seq)
                seq += 1
                yield request
            elif outbox.exhausted:
                return
            elif outbox.full():
                if self._ends_at_window:
                    return
                self._changed.clear()
                await self._changed.wait()  # RunningMedian: wait for answers to make room
            elif not await self._pull():
                return

    async def _pull(self) -> bool:
        """Files the source's next batch in the outbox; False when the source failed."""
        async with self._source_lock:
            if self._outbox.exhausted or self.source_error is not None:
                return self.source_error is None
            try:
                batch = await anext(self._source, None)
                if batch is None:
                    self._outbox.exhausted = True
                else:
                    self._outbox.add(batch)  # TypeError for what is not a number
            except Exception as error:  # the caller's iterable failed: end, and raise it
                self.source_error = error
                self._outbox.begin_attempt()
                return False
            self._changed.set()
            return True

    def acknowledge_sent(self) -> bool:
        """An AddNumbers answer acknowledged every request its stream sent; True when that was
        the last of the source."""
        self._outbox.acknowledge_sent()
        return self._outbox.done()

    def acknowledge_one(self) -> None:
        self._outbox.acknowledge()
        self._changed.set()

    def done(self) -> bool:
        return self._outbox.done()

    def pending(self) -> int:
        return self._outbox.pending()
