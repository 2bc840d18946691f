"""The baselines our server is compared with, behind the same median.v1 messages.

- `ClassicMedianFinder`: the textbook two-heap solution, one `addNum` per number.
- `ClassicServicer`: that finder behind the median.v1 service (a bench-only servicer).
- `CountingServicer`: the transport floor; it only counts the numbers it receives and answers,
  so its rates are what gRPC in Python allows on this machine.

Both servicers do the least the contract needs for the bench's calls (create, stream, query,
delete); they skip validation, limits and request ids on purpose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from heapq import heappop, heappush
from typing import Any

import grpc
from median.v1 import median_pb2, median_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class ClassicMedianFinder:
    """The per-number two-heap MedianFinder: push, move the top across, rebalance."""

    __slots__ = ("_large", "_small")

    def __init__(self) -> None:
        self._small: list[float] = []  # negated max-heap of the lower half
        self._large: list[float] = []  # min-heap of the upper half

    def __len__(self) -> int:
        return len(self._small) + len(self._large)

    def add_num(self, num: float) -> None:
        heappush(self._small, -num)
        heappush(self._large, -heappop(self._small))
        if len(self._large) > len(self._small):
            heappush(self._small, -heappop(self._large))

    def find_median(self) -> float | None:
        if len(self._small) > len(self._large):
            return -self._small[0]
        if not self._small:
            return None
        return (-self._small[0] + self._large[0]) / 2


class _NamingServicer(median_pb2_grpc.MedianServiceServicer):
    """A baseline servicer's session ids: the requested one, or `<prefix>-<n>`."""

    prefix = "session"

    def __init__(self) -> None:
        self._next_id = 0

    def _session_id(self, requested: str) -> str:
        if requested:
            return requested
        self._next_id += 1
        return f"{self.prefix}-{self._next_id}"


class ClassicServicer(_NamingServicer):
    """median.v1 on ClassicMedianFinder: every number of every request goes through add_num."""

    prefix = "classic"

    def __init__(self) -> None:
        super().__init__()
        self._sessions: dict[str, ClassicMedianFinder] = {}

    async def CreateSession(  # noqa: N802 - the proto names the RPCs
        self, request: median_pb2.CreateSessionRequest, context: Context
    ) -> median_pb2.CreateSessionResponse:
        session_id = self._session_id(request.session_id)
        self._sessions[session_id] = ClassicMedianFinder()
        return median_pb2.CreateSessionResponse(session_id=session_id)

    async def AddNumbers(  # noqa: N802 - the proto names the RPCs
        self, request_iterator: AsyncIterator[median_pb2.AddNumbersRequest], context: Context
    ) -> median_pb2.AddNumbersResponse:
        session_id = ""
        added = 0
        finder = ClassicMedianFinder()
        async for request in request_iterator:
            if not session_id:
                session_id = request.session_id
                finder = await self._find(session_id, context)
            for number in request.numbers:
                finder.add_num(number)
            added += len(request.numbers)
        median = finder.find_median()
        return median_pb2.AddNumbersResponse(
            session_id=session_id,
            added_count=added,
            number_count=len(finder),
            **({} if median is None else {"median": median}),
        )

    async def RunningMedian(  # noqa: N802 - the proto names the RPCs
        self, request_iterator: AsyncIterator[median_pb2.RunningMedianRequest], context: Context
    ) -> AsyncIterator[median_pb2.RunningMedianResponse]:
        session_id = ""
        finder = ClassicMedianFinder()
        async for request in request_iterator:
            if not session_id:
                session_id = request.session_id
                finder = await self._find(session_id, context)
            for number in request.numbers:
                finder.add_num(number)
            median = finder.find_median()
            yield median_pb2.RunningMedianResponse(
                session_id=session_id,
                added_count=len(request.numbers),
                number_count=len(finder),
                **({} if median is None else {"median": median}),
            )

    async def GetMedian(  # noqa: N802 - the proto names the RPCs
        self, request: median_pb2.GetMedianRequest, context: Context
    ) -> median_pb2.GetMedianResponse:
        finder = await self._find(request.session_id, context)
        median = finder.find_median()
        if median is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the session is empty")
        return median_pb2.GetMedianResponse(
            session_id=request.session_id, number_count=len(finder), median=median
        )

    async def DeleteSession(  # noqa: N802 - the proto names the RPCs
        self, request: median_pb2.DeleteSessionRequest, context: Context
    ) -> median_pb2.DeleteSessionResponse:
        await self._find(request.session_id, context)
        del self._sessions[request.session_id]
        return median_pb2.DeleteSessionResponse()

    async def ListSessions(  # noqa: N802 - the proto names the RPCs
        self, request: median_pb2.ListSessionsRequest, context: Context
    ) -> median_pb2.ListSessionsResponse:
        return median_pb2.ListSessionsResponse(
            sessions=[
                median_pb2.SessionSummary(session_id=session_id, number_count=len(finder))
                for session_id, finder in sorted(self._sessions.items())
            ]
        )

    async def _find(self, session_id: str, context: Context) -> ClassicMedianFinder:
        finder = self._sessions.get(session_id)
        if finder is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f'no session "{session_id}"')
        return finder


class CountingServicer(_NamingServicer):
    """The transport floor: counts the numbers of each session and answers; no median work.

    `GetMedian` here is the empty unary call: it looks nothing up and answers at once.
    """

    prefix = "floor"

    def __init__(self) -> None:
        super().__init__()
        self._counts: dict[str, int] = {}

    async def CreateSession(  # noqa: N802 - the proto names the RPCs
        self, request: median_pb2.CreateSessionRequest, context: Context
    ) -> median_pb2.CreateSessionResponse:
        session_id = self._session_id(request.session_id)
        self._counts[session_id] = 0
        return median_pb2.CreateSessionResponse(session_id=session_id)

    async def AddNumbers(  # noqa: N802 - the proto names the RPCs
        self, request_iterator: AsyncIterator[median_pb2.AddNumbersRequest], context: Context
    ) -> median_pb2.AddNumbersResponse:
        session_id = ""
        added = 0
        async for request in request_iterator:
            session_id = session_id or request.session_id
            added += len(request.numbers)
        count = self._counts.get(session_id, 0) + added
        self._counts[session_id] = count
        return median_pb2.AddNumbersResponse(
            session_id=session_id, added_count=added, number_count=count
        )

    async def RunningMedian(  # noqa: N802 - the proto names the RPCs
        self, request_iterator: AsyncIterator[median_pb2.RunningMedianRequest], context: Context
    ) -> AsyncIterator[median_pb2.RunningMedianResponse]:
        session_id = ""
        count = 0
        async for request in request_iterator:
            if not session_id:
                session_id = request.session_id
                count = self._counts.get(session_id, 0)
            added = len(request.numbers)
            count += added
            self._counts[session_id] = count
            yield median_pb2.RunningMedianResponse(
                session_id=session_id, added_count=added, number_count=count
            )

    async def GetMedian(  # noqa: N802 - the proto names the RPCs
        self, request: median_pb2.GetMedianRequest, context: Context
    ) -> median_pb2.GetMedianResponse:
        return median_pb2.GetMedianResponse(session_id=request.session_id, number_count=1)

    async def DeleteSession(  # noqa: N802 - the proto names the RPCs
        self, request: median_pb2.DeleteSessionRequest, context: Context
    ) -> median_pb2.DeleteSessionResponse:
        self._counts.pop(request.session_id, None)
        return median_pb2.DeleteSessionResponse()

    async def ListSessions(  # noqa: N802 - the proto names the RPCs
        self, request: median_pb2.ListSessionsRequest, context: Context
    ) -> median_pb2.ListSessionsResponse:
        return median_pb2.ListSessionsResponse(
            sessions=[
                median_pb2.SessionSummary(session_id=session_id, number_count=count)
                for session_id, count in sorted(self._counts.items())
            ]
        )
