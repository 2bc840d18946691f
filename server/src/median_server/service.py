"""The gRPC face of the service: a thin servicer, and the one place errors become status codes.

The servicer checks what it can without the store (ids, request ids, finite numbers, the routing
header), calls the session store, and builds the answer. `ServiceInterceptor` turns the domain's
errors into status codes with `google.rpc` details, answers UNAVAILABLE while the server drains,
and turns anything unexpected into INTERNAL with the details in the server's log only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from median.v1 import median_pb2, median_pb2_grpc

from median_server import errors
from median_server.auth import Authenticator, current_tenant, set_tenant
from median_server.cluster import LIST_SCOPE_HEADER, SHARD_SCOPE, ClusterLister
from median_server.median_finder import as_numbers
from median_server.metrics import Metrics
from median_server.sessions import AddOutcome, SessionStore, Snapshot
from median_server.validation import check_finite, check_request_id, check_session_id
from median_server.wire import read_numbers_request

log = logging.getLogger(__name__)

ROUTING_HEADER = "median-session-id"
ERROR_DOMAIN = "median.v1"
SERVICE_NAME = median_pb2.DESCRIPTOR.services_by_name["MedianService"].full_name
_METHOD_PREFIX = f"/{SERVICE_NAME}/"
# The streams of numbers: their requests are read from the wire with the numbers as an array.
_NUMBER_STREAMS = frozenset(_METHOD_PREFIX + name for name in ("AddNumbers", "RunningMedian"))

_STATUS_CODES: dict[type[errors.MedianServiceError], grpc.StatusCode] = {
    errors.InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NonFiniteNumberError: grpc.StatusCode.INVALID_ARGUMENT,
    errors.SessionNotFoundError: grpc.StatusCode.NOT_FOUND,
    errors.SessionExistsError: grpc.StatusCode.ALREADY_EXISTS,
    errors.EmptySessionError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.LimitExceededError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.DrainingError: grpc.StatusCode.UNAVAILABLE,
    errors.UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    errors.StorageUnavailableError: grpc.StatusCode.UNAVAILABLE,
    errors.ShardUnavailableError: grpc.StatusCode.UNAVAILABLE,
}


class _StreamRequest(Protocol):
    """What AddNumbersRequest and RunningMedianRequest have in common."""

    @property
    def session_id(self) -> str: ...
    @property
    def numbers(self) -> Any: ...  # a float64 array (wire.NumbersRequest), or a repeated double
    @property
    def request_id(self) -> str: ...


class MedianServicer(median_pb2_grpc.MedianServiceServicer):
    """Implements median.v1.MedianService on a SessionStore.

    With a `ClusterLister` the server is one shard of a cluster: every call that names a session
    needs the `median-session-id` header (a proxy routes on it), and `ListSessions` walks every
    shard.
    """

    def __init__(self, store: SessionStore, cluster: ClusterLister | None = None) -> None:
        self._store = store
        self._cluster = cluster

    async def CreateSession(
        self, request: median_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> median_pb2.CreateSessionResponse:
        header = self._routing_header(context)
        wanted = request.session_id or header
        if wanted:
            check_session_id(wanted, "session_id" if request.session_id else ROUTING_HEADER)
            _check_header_matches(wanted, header)
        session_id = await self._store.create_session(wanted or None, tenant=current_tenant())
        log.debug('created session "%s"', session_id)
        return median_pb2.CreateSessionResponse(session_id=session_id)

    async def AddNumbers(
        self,
        request_iterator: AsyncIterator[median_pb2.AddNumbersRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> median_pb2.AddNumbersResponse:
        added = 0
        last: Snapshot | None = None
        async for outcome in self._apply_stream(request_iterator, context):
            added += outcome.added_count
            last = outcome.snapshot
        if last is None:
            return median_pb2.AddNumbersResponse()
        return median_pb2.AddNumbersResponse(
            session_id=last.session_id,
            added_count=added,
            number_count=last.number_count,
            **_median_field(last),
        )

    async def RunningMedian(
        self,
        request_iterator: AsyncIterator[median_pb2.RunningMedianRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[median_pb2.RunningMedianResponse]:
        async for outcome in self._apply_stream(request_iterator, context):
            snapshot = outcome.snapshot
            yield median_pb2.RunningMedianResponse(
                session_id=snapshot.session_id,
                added_count=outcome.added_count,
                number_count=snapshot.number_count,
                **_median_field(snapshot),
            )

    async def GetMedian(
        self, request: median_pb2.GetMedianRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> median_pb2.GetMedianResponse:
        session_id = self._named_session(request.session_id, context)
        snapshot = self._store.median(session_id, tenant=current_tenant())
        assert snapshot.median is not None  # the store refuses an empty session
        return median_pb2.GetMedianResponse(
            session_id=session_id, number_count=snapshot.number_count, median=snapshot.median
        )

    async def DeleteSession(
        self, request: median_pb2.DeleteSessionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> median_pb2.DeleteSessionResponse:
        session_id = self._named_session(request.session_id, context)
        await self._store.delete(session_id, tenant=current_tenant())
        log.debug('deleted session "%s"', session_id)
        return median_pb2.DeleteSessionResponse()

    async def ListSessions(
        self, request: median_pb2.ListSessionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> median_pb2.ListSessionsResponse:
        metadata = context.invocation_metadata() or ()
        scope = next((str(v) for k, v in metadata if k == LIST_SCOPE_HEADER), None)
        if scope not in (None, SHARD_SCOPE):
            raise errors.InvalidArgumentError(
                f'the {LIST_SCOPE_HEADER} header is "{scope}"; the one scope there is is '
                f'"{SHARD_SCOPE}" (this server\'s sessions only): leave it out for the whole list',
                (errors.FieldViolation(LIST_SCOPE_HEADER, f'only "{SHARD_SCOPE}" is known'),),
            )
        if self._cluster is None or scope == SHARD_SCOPE:
            return self._list_page(request.page_size, request.page_token)
        return await self._list_cluster_page(request, self._cluster, metadata, context)

    async def _list_cluster_page(
        self,
        request: median_pb2.ListSessionsRequest,
        cluster: ClusterLister,
        metadata: Any,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> median_pb2.ListSessionsResponse:
        """A page of the cluster-wide list: the next sessions of the shard the token names,
        skipping shards that have none."""
        shard, local_token = cluster.decode_token(request.page_token)
        while True:
            if shard == cluster.shard:
                page = self._list_page(request.page_size, local_token)
            else:
                page = await cluster.remote_page(
                    shard, request.page_size, local_token, metadata, context.time_remaining()
                )
            next_token = cluster.encode_token(shard, page.next_page_token)
            if page.sessions or not next_token:
                page.next_page_token = next_token
                return page
            shard, local_token = cluster.decode_token(next_token)

    def _list_page(self, page_size: int, page_token: str) -> median_pb2.ListSessionsResponse:
        """A page of this server's own sessions."""
        page, next_token = self._store.list_page(page_size, page_token, tenant=current_tenant())
        return median_pb2.ListSessionsResponse(
            sessions=[
                median_pb2.SessionSummary(session_id=s.session_id, number_count=s.number_count)
                for s in page
            ],
            next_page_token=next_token,
        )

    async def _apply_stream(
        self, requests: AsyncIterable[_StreamRequest], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[AddOutcome]:
        """Applies a stream's requests in order, each whole, and yields what each did."""
        tenant = current_tenant()
        bound = ""
        added_before = 0
        async for request in requests:
            if not bound:
                bound = self._named_session(request.session_id, context)
            elif request.session_id and request.session_id != bound:
                raise errors.InvalidArgumentError(
                    f'this stream belongs to session "{bound}" but a request names '
                    f'"{request.session_id}"; open one stream per session',
                    (errors.FieldViolation("session_id", "differs from the stream's session"),),
                )
            check_request_id(request.request_id)
            numbers = as_numbers(request.numbers)
            check_finite(numbers, added_before)
            try:
                outcome = await self._store.add(bound, numbers, request.request_id, tenant)
            except errors.LimitExceededError as error:  # say, as for a NaN, what stays applied
                raise errors.LimitExceededError(
                    error.limit,
                    error.value,
                    f"{error.message}; {added_before} numbers of this stream had been added "
                    "before this request, and stay",
                ) from None
            added_before += outcome.added_count
            yield outcome

    def _routing_header(self, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        """The `median-session-id` header ("" when absent or empty); a shard of a cluster
        refuses a call without it, and any server a call that sends it with different ids."""
        header = ""
        for key, value in context.invocation_metadata() or ():
            if key == ROUTING_HEADER:
                if header and value != header:
                    raise errors.InvalidArgumentError(
                        f"the {ROUTING_HEADER} header is sent more than once with different ids; "
                        "a proxy routes on one of them, so send it once, with the session's id",
                        (errors.FieldViolation(ROUTING_HEADER, "sent more than once"),),
                    )
                header = str(value)
        if not header and self._cluster is not None:
            raise errors.InvalidArgumentError(
                f"this server is shard {self._cluster.shard} of a cluster of "
                f"{len(self._cluster.shards)}, and the call has no (or an empty) {ROUTING_HEADER} "
                "header, so a proxy cannot have routed it to its session's shard; send the "
                f"session id as the request metadata {ROUTING_HEADER} on every call, "
                "CreateSession included (choose the id in the client)",
                (errors.FieldViolation(ROUTING_HEADER, "required on every call in a cluster"),),
            )
        return header

    def _named_session(self, session_id: str, context: grpc.aio.ServicerContext[Any, Any]) -> str:
        check_session_id(session_id)
        _check_header_matches(session_id, self._routing_header(context))
        return session_id


def _median_field(snapshot: Snapshot) -> dict[str, float]:
    return {} if snapshot.median is None else {"median": snapshot.median}


def _check_header_matches(session_id: str, header: str) -> None:
    if header and header != session_id:
        raise errors.InvalidArgumentError(
            f'the {ROUTING_HEADER} header names session "{header}" but the request names '
            f'"{session_id}"; send the same id in both',
            (errors.FieldViolation("session_id", f"differs from the {ROUTING_HEADER} header"),),
        )


def status_for(error: errors.MedianServiceError) -> grpc.Status:
    """The status code and `google.rpc` details that report a domain error."""
    code = _STATUS_CODES[type(error)]
    details: list[Any] = []
    if isinstance(error, errors.InvalidArgumentError) and error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    if isinstance(error, errors.LimitExceededError):
        details.append(
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=f"--{error.limit}", description=f"limit {error.value}"
                    )
                ]
            )
        )
        details.append(
            error_details_pb2.ErrorInfo(
                reason=error.limit.upper().replace("-", "_"),
                domain=ERROR_DOMAIN,
                metadata={"limit": str(error.value)},
            )
        )
    if isinstance(error, errors.UnauthenticatedError):
        details.append(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    packed = []
    for detail in details:
        wrapper = any_pb2.Any()
        wrapper.Pack(detail)
        packed.append(wrapper)
    status = status_pb2.Status(code=code.value[0], message=error.message, details=packed)
    return rpc_status.to_status(status)


_INTERNAL = rpc_status.to_status(
    status_pb2.Status(
        code=code_pb2.INTERNAL,
        message="internal error; the server has logged the details",
    )
)

Behaviour = Callable[..., Any]

if TYPE_CHECKING:  # generic only in the type stubs
    Handler = grpc.RpcMethodHandler[Any, Any]
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    _ServerInterceptor = grpc.aio.ServerInterceptor


class StreamLimit:
    """Counts the MedianService streams open at once and refuses one past `--max-streams`.

    An idle stream costs the server about 24 KB; without a limit a client could open them until
    memory runs out. gRPC's own per-connection limit (HTTP/2 MAX_CONCURRENT_STREAMS) makes extra
    streams wait in the client instead of failing, and behind a proxy all clients share its
    connections, so the limit is counted here, over all connections.
    """

    __slots__ = ("limit", "open")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def enter(self) -> None:
        if self.open >= self.limit:
            raise errors.LimitExceededError(
                "max-streams",
                self.limit,
                f"the server has {self.open} AddNumbers and RunningMedian streams open, its "
                f"limit (--max-streams {self.limit}); close idle streams or send more requests "
                "on fewer streams, then retry",
            )
        self.open += 1

    def leave(self) -> None:
        self.open -= 1


class ServiceInterceptor(_ServerInterceptor):
    """Maps errors to statuses, refuses calls while draining, logs each call at debug and each
    refused call at info, counts open streams against their limit, and counts calls for the
    metrics when there are any."""

    def __init__(
        self,
        is_draining: Callable[[], bool],
        metrics: Metrics | None = None,
        authenticator: Authenticator | None = None,
        *,
        streams: StreamLimit,
    ) -> None:
        self._is_draining = is_draining
        self._metrics = metrics
        self._authenticator = authenticator  # set: MedianService calls need a bearer token
        self._streams = streams
        self._wrapped: dict[str, Handler] = {}  # by method: built on its first call

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(_METHOD_PREFIX):
            # Health and reflection stay answerable while draining, and need no token: they
            # hold no tenant's data (reflection serves the public schema only), and tools that
            # check health find its schema by reflection.
            return handler
        if log.isEnabledFor(logging.DEBUG):
            metadata = dict(handler_call_details.invocation_metadata or ())
            log.debug("call %s %s=%s", method, ROUTING_HEADER, metadata.get(ROUTING_HEADER, "-"))
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._wrapped[method] = _wrap(
                handler,
                self._is_draining,
                method,
                self._metrics,
                authenticator=self._authenticator,
                streams=self._streams,
            )
        return wrapped


def _wrap(
    handler: Handler,
    is_draining: Callable[[], bool],
    method: str,
    metrics: Metrics | None = None,
    *,
    authenticator: Authenticator | None = None,
    streams: StreamLimit,
) -> Handler:
    """Wraps one method's handler; built once per method, so per-call state lives in each
    call's `_CallObserver`."""
    # Requests reach the wrapper as bytes and are parsed here, so that a malformed message is
    # refused with INVALID_ARGUMENT like any other bad request (gRPC itself answers UNKNOWN).
    message = getattr(getattr(handler.request_deserializer, "__self__", None), "DESCRIPTOR", None)
    parse: Callable[[bytes], Any] = handler.request_deserializer or (lambda raw: raw)
    if method in _NUMBER_STREAMS:
        parse = read_numbers_request

    def decode(raw: bytes, observer: _CallObserver | None) -> Any:
        if observer:
            observer.received_bytes += len(raw)
        try:
            request = parse(raw)
        except DecodeError as error:
            name = message.full_name if message else "request"
            raise errors.InvalidArgumentError(
                f"the request is not a valid {name} message ({error}); check that the client's "
                "stubs were generated from median/v1/median.proto"
            ) from None
        if observer:
            observer.last_request = request
        return request

    async def decoded(
        raw_requests: AsyncIterator[bytes], observer: _CallObserver | None
    ) -> AsyncIterator[Any]:
        async for raw in raw_requests:
            yield decode(raw, observer)

    async def refuse_or_report(
        error: Exception, context: Any, observer: _CallObserver | None
    ) -> None:
        code = _code_name(error, context)
        if observer:
            observer.refused(error, code)
        if isinstance(error, grpc.aio.AbortError):
            _log_refused(method, code, context.details() or "")
            raise error  # the call was already ended with a status
        if isinstance(error, errors.MedianServiceError):
            _log_refused(method, code, error.message)
            await context.abort_with_status(status_for(error))
        log.error("unexpected error in %s", method, exc_info=error, extra=_fields(method, code))
        await context.abort_with_status(_INTERNAL)

    def admit(context: Any, stream: bool) -> bool:
        """Every call's entry: the token and draining checks, and for a stream its place under
        --max-streams; says whether it took one (to give back when the call ends). Each wrapper
        below frames the call itself (try, refuse or report, end the observation) rather than
        through a context manager, which cost a few microseconds a call here."""
        _authenticate(authenticator, context)
        if is_draining():
            raise errors.DrainingError()
        if stream:
            streams.enter()
        return stream

    def release(counted: bool, observer: _CallObserver | None) -> None:
        """Every call's exit: its place under --max-streams back, its observation ended."""
        if counted:
            streams.leave()
        if observer:
            observer.end()

    def unary(behaviour: Behaviour, streamed_requests: bool) -> Behaviour:
        async def wrapped(raw: Any, context: Any) -> Any:
            observer = _CallObserver(metrics, method) if metrics else None
            counted = False
            try:
                counted = admit(context, streamed_requests)
                request = decoded(raw, observer) if streamed_requests else decode(raw, observer)
                return await behaviour(request, context)
            except Exception as error:
                await refuse_or_report(error, context, observer)
            finally:
                release(counted, observer)

        return wrapped

    def streaming(behaviour: Behaviour) -> Behaviour:
        async def wrapped(raw: Any, context: Any) -> AsyncIterator[Any]:
            observer = _CallObserver(metrics, method) if metrics else None
            counted = False
            try:
                counted = admit(context, True)
                async for response in behaviour(decoded(raw, observer), context):
                    yield response
            except Exception as error:
                await refuse_or_report(error, context, observer)
            finally:
                release(counted, observer)

        return wrapped

    serialize = {"response_serializer": handler.response_serializer}
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary, False), **serialize)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary, True), **serialize)
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), **serialize)
    return handler


def _authenticate(authenticator: Authenticator | None, context: Any) -> None:
    """Sets the caller's tenant for the handler; raises UnauthenticatedError without a token.

    It runs in the handler's own task (gRPC runs each call in a task of its own), so the tenant
    it sets is the one the servicer reads, and no other call sees it.
    """
    if authenticator is None:
        set_tenant("")
    else:
        set_tenant(authenticator.tenant_of(context.invocation_metadata() or ()))


def _code_name(error: Exception, context: Any) -> str:
    """The name of the status code that `error` ends the call with."""
    if isinstance(error, errors.MedianServiceError):
        return _STATUS_CODES[type(error)].name
    if isinstance(error, grpc.aio.AbortError):
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return "INTERNAL"


def _fields(method: str, code: str) -> dict[str, str]:
    """The structured fields of a call's log line (`extra=`); never numbers or credentials."""
    return {"method": method, "code": code}


def _log_refused(method: str, code: str, message: str) -> None:
    log.info("refused %s: %s %s", method, code, message, extra=_fields(method, code))


_REFUSAL_REASONS: dict[type[Exception], str] = {
    errors.NonFiniteNumberError: "non_finite",
    errors.InvalidArgumentError: "invalid_request",
    errors.SessionNotFoundError: "not_found",
    errors.LimitExceededError: "limit",
    errors.DrainingError: "draining",
}


class _CallObserver:
    """Measures one call for the metrics: its requests' bytes, its outcome and its duration.

    It sees each request as gRPC decodes it, so that when a call is refused, the request being
    applied (the last one decoded) is the one whose numbers were refused.
    """

    __slots__ = ("_code", "_method", "_metrics", "_started", "last_request", "received_bytes")

    def __init__(self, metrics: Metrics, method: str) -> None:
        self._metrics = metrics
        self._method = method.rsplit("/", 1)[-1]
        self._code = "OK"  # until a refusal says otherwise; a cancelled call says CANCELLED
        self.received_bytes = 0  # of the request messages, as received
        self.last_request: Any = None  # the request being applied, once parsed
        self._started = time.perf_counter()

    def refused(self, error: Exception, code: str) -> None:
        self._code = code
        numbers = getattr(self.last_request, "numbers", None)
        if numbers is not None and len(numbers):
            reason = _REFUSAL_REASONS.get(type(error), code.lower())
            self._metrics.observe_refused_numbers(reason, len(numbers))

    def end(self) -> None:
        code = self._code
        if code == "OK" and _current_task_cancelled():
            code = "CANCELLED"
        seconds = time.perf_counter() - self._started
        self._metrics.observe_call(self._method, code, seconds, self.received_bytes)


def _current_task_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
