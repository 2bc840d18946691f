"""Every RPC and every row of the API's error table, against a real server on loopback.

Each refused request is followed by a check that the session did not change.
"""

from __future__ import annotations

import asyncio
import gc
import math
import random
import statistics
from collections.abc import Awaitable, Sequence
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from median.v1 import median_pb2

from tests.conftest import Service, ServiceFactory
from tests.statuses import details

Code = grpc.StatusCode


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


async def read(call: Any) -> median_pb2.RunningMedianResponse:
    """The next answer of a RunningMedian call (which must have one)."""
    answer = await call.read()
    assert isinstance(answer, median_pb2.RunningMedianResponse), answer
    return answer


async def add(
    service: Service, session_id: str, *batches: Sequence[float], request_id: str = ""
) -> median_pb2.AddNumbersResponse:
    requests = [
        median_pb2.AddNumbersRequest(session_id=session_id, numbers=b, request_id=request_id)
        for b in batches
    ]
    response: median_pb2.AddNumbersResponse = await service.stub.AddNumbers(iter(requests))
    return response


async def state(service: Service, session_id: str) -> tuple[int, float | None]:
    """The session's count and median, as ListSessions and GetMedian report them."""
    page = await service.stub.ListSessions(median_pb2.ListSessionsRequest(page_size=1000))
    counts = {s.session_id: s.number_count for s in page.sessions}
    count = counts[session_id]
    if count == 0:
        return 0, None
    answer = await service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
    assert answer.number_count == count
    return count, answer.median


async def new_session(service: Service, *numbers: float) -> str:
    created = await service.stub.CreateSession(median_pb2.CreateSessionRequest())
    if numbers:
        await add(service, created.session_id, numbers)
    return str(created.session_id)


# CreateSession


async def test_create_session_without_id_gets_a_server_chosen_id(service: Service) -> None:
    first = await service.stub.CreateSession(median_pb2.CreateSessionRequest())
    second = await service.stub.CreateSession(median_pb2.CreateSessionRequest())
    assert len(first.session_id) >= 22
    assert first.session_id != second.session_id
    assert await state(service, first.session_id) == (0, None)


async def test_create_session_uses_the_given_id(service: Service) -> None:
    created = await service.stub.CreateSession(
        median_pb2.CreateSessionRequest(session_id="orders.eu-1_v2")
    )
    assert created.session_id == "orders.eu-1_v2"


async def test_create_session_with_a_taken_id_is_already_exists(service: Service) -> None:
    session_id = await new_session(service, 1.0, 2.0)
    error = await refused(
        service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id))
    )
    assert error.code() == Code.ALREADY_EXISTS
    assert session_id in (error.details() or "")
    assert await state(service, session_id) == (2, 1.5)


async def test_create_session_with_empty_id_uses_the_routing_header(service: Service) -> None:
    created = await service.stub.CreateSession(
        median_pb2.CreateSessionRequest(), metadata=(("median-session-id", "from-header"),)
    )
    assert created.session_id == "from-header"


@pytest.mark.parametrize(
    ("session_id", "problem"),
    [("has space", "characters outside"), ("x" * 129, "at most 128"), ("é", "characters outside")],
)
async def test_malformed_session_id_is_invalid_argument(
    service: Service, session_id: str, problem: str
) -> None:
    for call in (
        service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id)),
        service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id)),
        service.stub.DeleteSession(median_pb2.DeleteSessionRequest(session_id=session_id)),
    ):
        error = await refused(call)
        assert error.code() == Code.INVALID_ARGUMENT
        assert problem in (error.details() or "")
        (bad_request,) = details(error)
        assert isinstance(bad_request, error_details_pb2.BadRequest)
        assert bad_request.field_violations[0].field == "session_id"


async def test_a_128_character_id_is_accepted(service: Service) -> None:
    session_id = "a" * 128
    created = await service.stub.CreateSession(
        median_pb2.CreateSessionRequest(session_id=session_id)
    )
    assert created.session_id == session_id


async def test_missing_session_id_is_invalid_argument(service: Service) -> None:
    error = await refused(service.stub.GetMedian(median_pb2.GetMedianRequest()))
    assert error.code() == Code.INVALID_ARGUMENT
    assert "session_id is required" in (error.details() or "")
    error = await refused(add(service, "", [1.0]))
    assert error.code() == Code.INVALID_ARGUMENT


async def test_header_and_body_naming_different_sessions_is_invalid_argument(
    service: Service,
) -> None:
    session_id = await new_session(service, 4.0)
    header = (("median-session-id", "other"),)
    error = await refused(
        service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id), metadata=header)
    )
    assert error.code() == Code.INVALID_ARGUMENT
    assert "median-session-id" in (error.details() or "")
    error = await refused(
        service.stub.AddNumbers(
            iter([median_pb2.AddNumbersRequest(session_id=session_id, numbers=[1.0])]),
            metadata=header,
        )
    )
    assert error.code() == Code.INVALID_ARGUMENT
    assert await state(service, session_id) == (1, 4.0)
    same = (("median-session-id", session_id),)
    answer = await service.stub.GetMedian(
        median_pb2.GetMedianRequest(session_id=session_id), metadata=same
    )
    assert answer.median == 4.0


# AddNumbers


async def test_add_numbers_answers_once_with_added_count_and_median(service: Service) -> None:
    session_id = await new_session(service, 10.0)
    response = await add(service, session_id, [3.0, 1.0], [], [2.0, 7.0])
    assert response.session_id == session_id
    assert response.added_count == 4
    assert response.number_count == 5
    assert response.HasField("median")
    assert response.median == 3.0


async def test_add_numbers_later_requests_may_omit_the_session_id(service: Service) -> None:
    session_id = await new_session(service)
    requests = [
        median_pb2.AddNumbersRequest(session_id=session_id, numbers=[1.0]),
        median_pb2.AddNumbersRequest(numbers=[2.0]),
        median_pb2.AddNumbersRequest(session_id=session_id, numbers=[3.0]),
    ]
    response = await service.stub.AddNumbers(iter(requests))
    assert (response.added_count, response.number_count, response.median) == (3, 3, 2.0)


async def test_add_numbers_with_only_empty_requests_reports_no_median(service: Service) -> None:
    session_id = await new_session(service)
    response = await add(service, session_id, [], [])
    assert response.added_count == 0
    assert response.number_count == 0
    assert not response.HasField("median")


async def test_add_numbers_to_an_unknown_session_is_not_found(service: Service) -> None:
    error = await refused(add(service, "never-made", [1.0]))
    assert error.code() == Code.NOT_FOUND
    assert '"never-made"' in (error.details() or "")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
async def test_non_finite_number_refuses_the_request_and_names_its_index(
    service: Service, bad: float
) -> None:
    session_id = await new_session(service, 5.0)
    error = await refused(add(service, session_id, [1.0, 2.0], [3.0, 4.0, bad, 6.0]))
    assert error.code() == Code.INVALID_ARGUMENT
    text = error.details() or ""
    assert "numbers[2]" in text
    assert "2 numbers of this stream had been added before" in text
    (bad_request,) = details(error)
    assert isinstance(bad_request, error_details_pb2.BadRequest)
    assert bad_request.field_violations[0].field == "numbers[2]"
    # The first request stays applied; the refused one changed nothing.
    assert await state(service, session_id) == (3, 2.0)


async def test_finite_numbers_that_overflow_when_summed_are_accepted(service: Service) -> None:
    largest = 1.7976931348623157e308
    session_id = await new_session(service)
    response = await add(service, session_id, [largest, largest, largest])
    assert response.median == largest


async def test_stream_switching_sessions_is_invalid_argument(service: Service) -> None:
    first = await new_session(service)
    second = await new_session(service)
    requests = [
        median_pb2.AddNumbersRequest(session_id=first, numbers=[1.0]),
        median_pb2.AddNumbersRequest(session_id=second, numbers=[2.0]),
    ]
    error = await refused(service.stub.AddNumbers(iter(requests)))
    assert error.code() == Code.INVALID_ARGUMENT
    assert "one stream per session" in (error.details() or "")
    assert await state(service, first) == (1, 1.0)
    assert await state(service, second) == (0, None)


async def test_retried_request_id_is_applied_once(service: Service) -> None:
    session_id = await new_session(service)
    first = await add(service, session_id, [1.0, 2.0, 3.0], request_id="batch-0001")
    retry = await add(service, session_id, [1.0, 2.0, 3.0], request_id="batch-0001")
    assert first.added_count == 3
    assert retry.added_count == 0
    assert retry.number_count == 3
    assert retry.median == 2.0


@pytest.mark.parametrize("request_id", ["x" * 65, "tab\there", "naïve", "line\n"])
async def test_malformed_request_id_is_invalid_argument(service: Service, request_id: str) -> None:
    session_id = await new_session(service, 1.0)
    error = await refused(add(service, session_id, [2.0], request_id=request_id))
    assert error.code() == Code.INVALID_ARGUMENT
    assert "request_id" in (error.details() or "")
    assert await state(service, session_id) == (1, 1.0)


async def test_request_id_of_64_printable_characters_is_accepted(service: Service) -> None:
    session_id = await new_session(service)
    response = await add(service, session_id, [2.0], request_id="~" * 64)
    assert response.added_count == 1


async def test_eight_concurrent_streams_into_one_session_lose_and_double_nothing(
    service: Service,
) -> None:
    session_id = await new_session(service)
    rng = random.Random(8)
    streams = [[[rng.uniform(-1e3, 1e3) for _ in range(500)] for _ in range(20)] for _ in range(8)]
    responses = await asyncio.gather(*(add(service, session_id, *batches) for batches in streams))
    assert [r.added_count for r in responses] == [10_000] * 8
    everything = [x for batches in streams for batch in batches for x in batch]
    assert await state(service, session_id) == (80_000, statistics.median(everything))


# RunningMedian


async def test_running_median_answers_every_request_in_order(service: Service) -> None:
    session_id = await new_session(service)
    batches: list[list[float]] = [[5.0], [], [1.0, 9.0], [2.0], [7.0, 8.0, 3.0]]
    requests = [median_pb2.RunningMedianRequest(session_id=session_id, numbers=batches[0])] + [
        median_pb2.RunningMedianRequest(numbers=b) for b in batches[1:]
    ]
    answers = [a async for a in service.stub.RunningMedian(iter(requests))]
    seen: list[float] = []
    assert len(answers) == len(batches)
    for answer, batch in zip(answers, batches, strict=True):
        seen.extend(batch)
        assert answer.session_id == session_id
        assert answer.added_count == len(batch)
        assert answer.number_count == len(seen)
        assert answer.median == statistics.median(seen)


async def test_running_median_answers_an_empty_request_on_an_empty_session(
    service: Service,
) -> None:
    session_id = await new_session(service)
    call = service.stub.RunningMedian(
        iter([median_pb2.RunningMedianRequest(session_id=session_id)])
    )
    (answer,) = [a async for a in call]
    assert answer.number_count == 0
    assert not answer.HasField("median")


async def test_running_median_retry_is_answered_with_added_count_zero(service: Service) -> None:
    session_id = await new_session(service)
    requests = [
        median_pb2.RunningMedianRequest(session_id=session_id, numbers=[4.0], request_id="r-1"),
        median_pb2.RunningMedianRequest(numbers=[4.0], request_id="r-1"),
        median_pb2.RunningMedianRequest(numbers=[6.0], request_id="r-2"),
    ]
    answers = [a async for a in service.stub.RunningMedian(iter(requests))]
    assert [(a.added_count, a.number_count, a.median) for a in answers] == [
        (1, 1, 4.0),
        (0, 1, 4.0),
        (1, 2, 5.0),
    ]


async def test_running_median_stops_at_a_refused_request_keeping_earlier_ones(
    service: Service,
) -> None:
    session_id = await new_session(service)
    requests = [
        median_pb2.RunningMedianRequest(session_id=session_id, numbers=[1.0, 3.0]),
        median_pb2.RunningMedianRequest(numbers=[math.nan]),
        median_pb2.RunningMedianRequest(numbers=[100.0]),
    ]
    call = service.stub.RunningMedian(iter(requests))
    answers = [await read(call)]
    error = await refused(call.read())
    assert error.code() == Code.INVALID_ARGUMENT
    assert [(a.number_count, a.median) for a in answers] == [(2, 2.0)]
    assert await state(service, session_id) == (2, 2.0)


async def test_cancelled_stream_keeps_what_was_applied_before_the_cancel(
    service: Service,
) -> None:
    session_id = await new_session(service)
    call = service.stub.RunningMedian(None)
    for value in (1.0, 2.0, 3.0):
        await call.write(median_pb2.RunningMedianRequest(session_id=session_id, numbers=[value]))
        answer = await read(call)
        assert answer.number_count == value
    call.cancel()
    await asyncio.sleep(0.1)
    assert await state(service, session_id) == (3, 2.0)
    # The session is still usable after the cancel.
    assert (await add(service, session_id, [4.0])).number_count == 4


async def test_large_request_cancelled_mid_apply_is_applied_whole(
    make_service: ServiceFactory,
) -> None:
    service = await make_service()
    store = service.server.store
    store.apply_slice = 100  # many slices, so that the cancel lands mid-apply
    session_id = await new_session(service)
    numbers = [float(i) for i in range(200_000)]
    call = service.stub.RunningMedian(None)
    await call.write(median_pb2.RunningMedianRequest(session_id=session_id, numbers=numbers))
    for _ in range(5000):  # the request counts against the limits as it starts to apply
        if store.total_numbers:
            break
        await asyncio.sleep(0.001)
    call.cancel()
    for _ in range(500):
        if store.snapshot(session_id).number_count:
            break
        await asyncio.sleep(0.01)
    assert await state(service, session_id) == (200_000, 99_999.5)


# GetMedian, DeleteSession, ListSessions


async def test_get_median_reads_without_changing_anything(service: Service) -> None:
    session_id = await new_session(service, 1.0, 2.0, 10.0)
    for _ in range(3):
        answer = await service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
        assert (answer.session_id, answer.number_count, answer.median) == (session_id, 3, 2.0)


async def test_get_median_of_an_empty_session_is_failed_precondition(service: Service) -> None:
    session_id = await new_session(service)
    error = await refused(
        service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
    )
    assert error.code() == Code.FAILED_PRECONDITION
    assert "no numbers" in (error.details() or "")


async def test_get_median_of_an_unknown_session_is_not_found(service: Service) -> None:
    error = await refused(service.stub.GetMedian(median_pb2.GetMedianRequest(session_id="nope")))
    assert error.code() == Code.NOT_FOUND


async def test_delete_session_removes_it(service: Service) -> None:
    session_id = await new_session(service, 1.0)
    await service.stub.DeleteSession(median_pb2.DeleteSessionRequest(session_id=session_id))
    error = await refused(
        service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
    )
    assert error.code() == Code.NOT_FOUND
    assert service.server.store.total_numbers == 0
    error = await refused(
        service.stub.DeleteSession(median_pb2.DeleteSessionRequest(session_id=session_id))
    )
    assert error.code() == Code.NOT_FOUND


async def test_list_sessions_pages_through_every_session(service: Service) -> None:
    made = sorted([await new_session(service, float(i)) for i in range(7)])
    seen: list[tuple[str, int]] = []
    token = ""
    while True:
        page = await service.stub.ListSessions(
            median_pb2.ListSessionsRequest(page_size=3, page_token=token)
        )
        assert len(page.sessions) <= 3
        seen.extend((s.session_id, s.number_count) for s in page.sessions)
        token = page.next_page_token
        if not token:
            break
    assert seen == [(session_id, 1) for session_id in made]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"page_size": -1}, "page_size"), ({"page_token": "not-ours"}, "page_token")],
)
async def test_list_sessions_bad_paging_is_invalid_argument(
    service: Service, request_fields: dict[str, Any], field: str
) -> None:
    error = await refused(
        service.stub.ListSessions(median_pb2.ListSessionsRequest(**request_fields))
    )
    assert error.code() == Code.INVALID_ARGUMENT
    assert field in (error.details() or "")


# Limits


async def test_max_sessions_is_resource_exhausted_naming_the_limit(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(max_sessions=2)
    await new_session(service)
    await new_session(service)
    error = await refused(service.stub.CreateSession(median_pb2.CreateSessionRequest()))
    assert error.code() == Code.RESOURCE_EXHAUSTED
    assert "--max-sessions" in (error.details() or "")
    assert "2" in (error.details() or "")
    quota, info = details(error)
    assert isinstance(quota, error_details_pb2.QuotaFailure)
    assert quota.violations[0].subject == "--max-sessions"
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == "MAX_SESSIONS"


@pytest.mark.parametrize(
    ("limit", "flag"),
    [
        ("max_session_numbers", "--max-session-numbers"),
        ("max_total_numbers", "--max-total-numbers"),
    ],
)
async def test_number_limits_refuse_the_whole_request(
    make_service: ServiceFactory, limit: str, flag: str
) -> None:
    service = await make_service(**{limit: 10})
    session_id = await new_session(service, *[float(i) for i in range(8)])
    error = await refused(add(service, session_id, [1.0, 2.0, 3.0]))
    assert error.code() == Code.RESOURCE_EXHAUSTED
    assert flag in (error.details() or "")
    assert "10" in (error.details() or "")
    assert await state(service, session_id) == (8, 3.5)
    assert (await add(service, session_id, [1.0, 2.0])).number_count == 10


async def test_a_limit_refused_mid_stream_says_how_many_of_the_stream_stay_applied(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(max_session_numbers=5)
    session_id = await new_session(service)
    error = await refused(add(service, session_id, [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]))
    assert error.code() == Code.RESOURCE_EXHAUSTED
    assert "--max-session-numbers" in (error.details() or "")
    assert "3 numbers of this stream had been added before this request" in (error.details() or "")
    assert await state(service, session_id) == (3, 2.0)


async def test_message_over_max_message_bytes_is_resource_exhausted(
    make_service: ServiceFactory,
) -> None:
    service = await make_service(max_message_bytes=1024)
    session_id = await new_session(service, 1.0)
    error = await refused(add(service, session_id, [2.0] * 1000))  # about 8 KB
    assert error.code() == Code.RESOURCE_EXHAUSTED
    assert await state(service, session_id) == (1, 1.0)
    assert (await add(service, session_id, [2.0] * 100)).number_count == 101


async def test_idle_session_expires_after_the_ttl(make_service: ServiceFactory) -> None:
    service = await make_service(session_ttl=30)
    kept = await new_session(service, 1.0)
    idle = await new_session(service, 2.0)
    service.clock.advance(20)
    await service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=kept))  # a touch
    service.clock.advance(20)
    error = await refused(service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=idle)))
    assert error.code() == Code.NOT_FOUND
    assert (await service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=kept))).median == 1


# Around the service


async def test_unexpected_error_is_internal_with_a_generic_message(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = await new_session(service, 1.0)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.server.store, "median", broken)
    error = await refused(
        service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
    )
    assert error.code() == Code.INTERNAL
    assert "secret" not in (error.details() or "")
    assert "secret internal detail" in caplog.text


async def test_health_is_serving_then_not_serving_once_draining(service: Service) -> None:
    health = health_pb2_grpc.HealthStub(service.channel)
    for name in ("", "median.v1.MedianService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    watch = health.Watch(health_pb2.HealthCheckRequest(service="median.v1.MedianService"))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    drained = asyncio.create_task(service.server.drain(grace=1))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    await drained


async def test_draining_server_refuses_new_calls_and_finishes_calls_in_flight(
    service: Service,
) -> None:
    session_id = await new_session(service)
    call = service.stub.RunningMedian(None)
    await call.write(median_pb2.RunningMedianRequest(session_id=session_id, numbers=[1.0]))
    assert (await read(call)).number_count == 1
    drained = asyncio.create_task(service.server.drain(grace=5))
    await asyncio.sleep(0.1)
    error = await refused(
        service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
    )
    assert error.code() == Code.UNAVAILABLE
    await call.write(median_pb2.RunningMedianRequest(numbers=[3.0]))
    assert (await read(call)).median == 2.0
    await call.done_writing()
    assert await call.code() == Code.OK
    await drained


async def test_reflection_lists_the_service(service: Service) -> None:
    with grpc.insecure_channel(service.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = await asyncio.to_thread(database.get_services)
        assert "median.v1.MedianService" in services
        assert "grpc.health.v1.Health" in services
        found = await asyncio.to_thread(
            database.FindFileContainingSymbol, "median.v1.MedianService"
        )
        assert found.name == "median/v1/median.proto"


async def test_reflection_can_be_turned_off(make_service: ServiceFactory) -> None:
    service = await make_service(reflection=False)
    with grpc.insecure_channel(service.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        with pytest.raises(grpc.RpcError) as error:
            await asyncio.to_thread(database.get_services)
        assert error.value.code() == Code.UNIMPLEMENTED


async def test_session_heaps_are_kept_out_of_full_garbage_collections(
    service: Service,
) -> None:
    session_id = await new_session(service, *[float(i) for i in range(1000)])
    finder = service.server.store._sessions["", session_id].finder
    heaps = (finder._lower, finder._upper)
    try:
        for _ in range(300):  # the server freezes new sessions within about a second
            tracked = {id(o) for o in gc.get_objects()}
            if not tracked & {id(h) for h in heaps}:
                break
            await asyncio.sleep(0.01)
        assert not tracked & {id(h) for h in heaps}, "a full collection would walk the heaps"
        await add(service, session_id, [float(i) for i in range(100_000)])
        gc.collect(0)  # as the collector does by itself every few hundred allocations
        below, above = finder.pending()
        reserve = below + above
        assert reserve, "the session is large enough to keep a reserve"
        walked = {id(o) for o in gc.get_objects()}
        assert not walked & {id(h) for h in heaps}
        assert not walked & {id(r) for r in reserve}, "nor would it walk the reserve"
        everything = [float(i) for i in range(1000)] + [float(i) for i in range(100_000)]
        assert await state(service, session_id) == (101_000, statistics.median(everything))
    finally:
        gc.unfreeze()
