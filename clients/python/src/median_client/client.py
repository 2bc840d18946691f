"""`MedianClient`: the blocking client, on a `grpc.Channel`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Self

import grpc
from median.v1 import median_pb2, median_pb2_grpc

from median_client.batching import (
    DEFAULT_BATCH_SIZE,
    batched,
    check_batch_size,
    stream_requests,
)
from median_client.errors import raising_median_error
from median_client.results import AddResult, MedianResult, RunningResult, SessionSummary
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
    ) -> None:
        connection = connect(
            target,
            channel,
            insecure_channel=grpc.insecure_channel,
            secure_channel=grpc.secure_channel,
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
        routing header names the session even on this first call.
        """
        if session_id is None:
            session_id = new_session_id()
        with raising_median_error():
            response = self._stub.CreateSession(
                median_pb2.CreateSessionRequest(session_id=session_id),
                timeout=self._timeout,
                metadata=self._metadata(session_id),
            )
        return response.session_id

    def add_numbers(
        self,
        session_id: str,
        numbers: Iterable[float],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        request_id_prefix: str | None = None,
    ) -> AddResult:
        """Streams `numbers` into the session on one `AddNumbers` stream; the session's new state.

        The iterable is read lazily, `batch_size` numbers per request (no numbers: one empty
        request). With `request_id_prefix`, request i carries the request id `<prefix>-<i>`, so
        that sending the same stream again adds nothing twice. A refused request ends the
        stream with `MedianError`; the requests before it stay applied.
        """
        check_batch_size(batch_size)
        requests = stream_requests(
            median_pb2.AddNumbersRequest,
            session_id,
            batched(numbers, batch_size),
            request_id_prefix,
        )
        with raising_median_error():
            response = self._stub.AddNumbers(
                requests, timeout=self._stream_timeout, metadata=self._metadata(session_id)
            )
        return AddResult.from_response(response)

    def running_median(
        self,
        session_id: str,
        batches: Iterable[Sequence[float]],
        *,
        request_id_prefix: str | None = None,
    ) -> Iterator[RunningResult]:
        """Sends each batch as one `RunningMedian` request; yields one result per request, in order.

        The stream starts at the first `next()`; leaving the loop early cancels it (what the
        server had applied stays applied).
        """
        requests = stream_requests(
            median_pb2.RunningMedianRequest, session_id, batches, request_id_prefix
        )
        responses = self._stub.RunningMedian(
            requests, timeout=self._stream_timeout, metadata=self._metadata(session_id)
        )
        try:
            with raising_median_error():
                for response in responses:
                    yield RunningResult.from_response(response)
        finally:
            # Ends the call if the caller stopped early; a no-op once the call has ended.
            responses.cancel()  # type: ignore[no-untyped-call]  # grpc-stubs leaves it untyped

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
