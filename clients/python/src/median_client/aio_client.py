"""`AsyncMedianClient`: the asyncio client, on a `grpc.aio.Channel`."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Self

import grpc
from median.v1 import median_pb2, median_pb2_grpc

from median_client.batching import (
    DEFAULT_BATCH_SIZE,
    abatched,
    astream_requests,
    check_batch_size,
)
from median_client.client import DEFAULT_PAGE_SIZE, DEFAULT_STREAM_TIMEOUT, DEFAULT_TIMEOUT
from median_client.errors import raising_median_error
from median_client.results import AddResult, MedianResult, RunningResult, SessionSummary
from median_client.routing import new_session_id, routing_metadata
from median_client.security import Metadata, connect


class AsyncMedianClient:
    """An asyncio client of `median.v1.MedianService`; the same calls as `MedianClient`.

    Make it inside a running event loop. Give a `target` and the client opens and closes its own
    `grpc.aio` channel, or give an open `channel`, which stays yours to close. TLS settings
    (`root_certificates`, `certificate_chain`, `private_key` or `credentials`) and `token` work
    as in `MedianClient`.

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
    ) -> None:
        connection = connect(
            target,
            channel,
            insecure_channel=grpc.aio.insecure_channel,
            secure_channel=grpc.aio.secure_channel,
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
        """Makes a new, empty session and returns its id; the client picks one if not given."""
        if session_id is None:
            session_id = new_session_id()
        with raising_median_error():
            response = await self._stub.CreateSession(
                median_pb2.CreateSessionRequest(session_id=session_id),
                timeout=self._timeout,
                metadata=self._metadata(session_id),
            )
        return response.session_id

    async def add_numbers(
        self,
        session_id: str,
        numbers: Iterable[float] | AsyncIterable[float],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        request_id_prefix: str | None = None,
    ) -> AddResult:
        """Streams `numbers` (plain or async iterable, read lazily) on one `AddNumbers` stream.

        As `MedianClient.add_numbers`: `batch_size` numbers per request, request ids
        `<prefix>-<i>` with `request_id_prefix`, the session's new state as the answer.
        """
        check_batch_size(batch_size)
        requests = astream_requests(
            median_pb2.AddNumbersRequest,
            session_id,
            abatched(numbers, batch_size),
            request_id_prefix,
        )
        with raising_median_error():
            response = await self._stub.AddNumbers(
                requests, timeout=self._stream_timeout, metadata=self._metadata(session_id)
            )
        return AddResult.from_response(response)

    async def running_median(
        self,
        session_id: str,
        batches: Iterable[Sequence[float]] | AsyncIterable[Sequence[float]],
        *,
        request_id_prefix: str | None = None,
    ) -> AsyncIterator[RunningResult]:
        """Sends each batch as one `RunningMedian` request; yields one result per request, in order.

        Leaving the loop early cancels the stream (what the server had applied stays applied).
        """
        requests = astream_requests(
            median_pb2.RunningMedianRequest, session_id, batches, request_id_prefix
        )
        call = self._stub.RunningMedian(
            requests, timeout=self._stream_timeout, metadata=self._metadata(session_id)
        )
        try:
            with raising_median_error():
                async for response in call:
                    yield RunningResult.from_response(response)
        finally:
            call.cancel()

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
