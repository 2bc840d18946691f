"""Durable sessions (`--data-dir`) in the test's event loop: what a restart keeps, how `--sync`
groups commits, compaction, and a refused request that writes nothing.

A restart here is a clean stop and a new server on the same folder, with a fake clock standing
in for the wall clock; the crash (SIGKILL) is in test_durable_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import statistics
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import grpc
import pytest
from median.v1 import median_pb2
from median_server.sessions import Limits, SessionStore
from median_server.storage import COMPACT_ROWS, FILE_NAME, Journal, open_journal

from tests.clock import FakeClock
from tests.conftest import Service, ServiceFactory

Code = grpc.StatusCode
Starter = Callable[..., Awaitable[Service]]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def start(make_service: ServiceFactory, data_dir: Path) -> Starter:
    """Starts servers on `data_dir` with the given Config fields and clock; stops them after."""

    async def starter(clock: FakeClock | None = None, **settings: Any) -> Service:
        return await make_service(clock, **{"data_dir": str(data_dir), **settings})

    return starter


async def stop(service: Service) -> None:
    await service.channel.close(None)
    await service.server.stop_now()


async def add(
    service: Service, session_id: str, numbers: Iterable[float], request_id: str = ""
) -> median_pb2.AddNumbersResponse:
    request = median_pb2.AddNumbersRequest(
        session_id=session_id, numbers=list(numbers), request_id=request_id
    )
    return await service.stub.AddNumbers(iter([request]))


async def state(service: Service, session_id: str) -> tuple[int, float]:
    answer = await service.stub.GetMedian(median_pb2.GetMedianRequest(session_id=session_id))
    return answer.number_count, answer.median


async def create(service: Service, session_id: str) -> None:
    await service.stub.CreateSession(median_pb2.CreateSessionRequest(session_id=session_id))


async def test_sessions_come_back_after_a_restart_with_the_same_count_and_median(
    start: Starter,
) -> None:
    first = await start()
    sent: dict[str, list[float]] = {"a": [], "b": []}
    for index in range(30):
        session_id = "a" if index % 3 else "b"
        numbers = [float((index * 7919 + k * 104729) % 1000) - 500.0 for k in range(index + 1)]
        if index < 2:
            await create(first, session_id)
        await add(first, session_id, numbers, request_id=f"r{index}")
        sent[session_id] += numbers
    await stop(first)

    second = await start()
    for session_id, numbers in sent.items():
        assert await state(second, session_id) == (len(numbers), statistics.median(numbers))
    listed = await second.stub.ListSessions(median_pb2.ListSessionsRequest())
    assert {(s.session_id, s.number_count) for s in listed.sessions} == {
        ("a", len(sent["a"])),
        ("b", len(sent["b"])),
    }


async def test_a_request_id_retried_after_a_restart_adds_nothing(start: Starter) -> None:
    first = await start()
    await create(first, "s")
    await add(first, "s", [1.0, 2.0, 3.0], request_id="once")
    await stop(first)

    second = await start()
    retried = await add(second, "s", [1.0, 2.0, 3.0], request_id="once")
    assert (retried.added_count, retried.number_count, retried.median) == (0, 3, 2.0)
    fresh = await add(second, "s", [10.0], request_id="twice")
    assert (fresh.added_count, fresh.number_count) == (1, 4)


async def test_a_deleted_session_stays_deleted_after_a_restart(start: Starter) -> None:
    first = await start()
    await create(first, "gone")
    await add(first, "gone", [1.0])
    await create(first, "kept")
    await first.stub.DeleteSession(median_pb2.DeleteSessionRequest(session_id="gone"))
    await stop(first)

    second = await start()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await state(second, "gone")
    assert error.value.code() == Code.NOT_FOUND
    listed = await second.stub.ListSessions(median_pb2.ListSessionsRequest())
    assert [s.session_id for s in listed.sessions] == ["kept"]
    await create(second, "gone")  # the id is free again, and the new session starts empty
    answer = await add(second, "gone", [5.0])
    assert (answer.number_count, answer.median) == (1, 5.0)


async def test_idle_expiry_counts_across_a_restart_and_reads_keep_a_session_alive(
    start: Starter,
) -> None:
    clock = FakeClock(1_000_000.0)
    first = await start(clock, session_ttl=60.0)
    for session_id in ("idle", "read"):
        await create(first, session_id)
        await add(first, session_id, [1.0])
    clock.advance(50)
    await state(first, "read")  # a touch by a read: written within a second, and at a stop
    await stop(first)

    later = FakeClock(clock.now + 30)  # "idle" untouched for 80 s, "read" for 30 s
    second = await start(later, session_ttl=60.0)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await state(second, "idle")
    assert error.value.code() == Code.NOT_FOUND
    assert await state(second, "read") == (1, 1.0)
    await stop(second)

    third = await start(FakeClock(later.now), session_ttl=60.0)
    listed = await third.stub.ListSessions(median_pb2.ListSessionsRequest())
    assert [s.session_id for s in listed.sessions] == ["read"]


async def test_a_refused_request_writes_nothing(start: Starter) -> None:
    first = await start(max_session_numbers=5)
    journal = first.server.journal
    assert journal is not None
    await create(first, "s")
    await add(first, "s", [1.0, 2.0, 3.0])
    commits = journal.commits
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await add(first, "s", [4.0, 5.0, 6.0])
    assert error.value.code() == Code.RESOURCE_EXHAUSTED
    assert journal.commits == commits
    await stop(first)

    second = await start(max_session_numbers=5)
    assert await state(second, "s") == (3, 2.0)


def query(data_dir: Path, sql: str) -> tuple[Any, ...]:
    """The first row of a query on the data folder's database (no server may hold it open)."""
    with contextlib.closing(sqlite3.connect(data_dir / FILE_NAME)) as database:
        row: tuple[Any, ...] = database.execute(sql).fetchone()
        return row


async def open_store(
    folder: Path, sync: str, commits: list[float] | None = None, remembered: int = 1024
) -> tuple[SessionStore, Journal]:
    on_commit = commits.append if commits is not None else None
    journal = open_journal(folder, sync, on_commit=on_commit, remembered=remembered)
    store = SessionStore(Limits(), FakeClock(), journal=journal)
    store.restore()
    journal.start()
    return store, journal


@pytest.mark.parametrize(("sync", "fewer"), [("batch", True), ("always", False)])
async def test_batch_sync_commits_concurrent_requests_together_and_always_one_by_one(
    data_dir: Path, sync: str, fewer: bool
) -> None:
    commits: list[float] = []
    store, journal = await open_store(data_dir, sync, commits)
    sessions = [await store.create_session(f"s{i}") for i in range(20)]
    before = len(commits)
    outcomes = await asyncio.gather(*(store.add(s, [1.0, 2.0], f"r-{s}") for s in sessions))
    request_commits = len(commits) - before
    await journal.close()

    assert [o.snapshot.number_count for o in outcomes] == [2] * 20
    if fewer:
        assert request_commits < 20
    else:
        assert request_commits == 20
    assert all(seconds >= 0 for seconds in commits)


async def test_many_small_requests_are_compacted_and_every_number_comes_back(
    data_dir: Path,
) -> None:
    store, journal = await open_store(data_dir, "batch")
    await store.create_session("s")
    requests = 3 * COMPACT_ROWS
    for index in range(requests):
        await store.add("s", [float(index % 97)], request_id=f"r{index}")
    await journal.close()

    (rows,) = query(data_dir, "SELECT count(*) FROM batches")
    assert rows < COMPACT_ROWS

    restored, journal = await open_store(data_dir, "batch")
    numbers = [float(index % 97) for index in range(requests)]
    snapshot = restored.snapshot("s")
    assert (snapshot.number_count, snapshot.median) == (len(numbers), statistics.median(numbers))
    retried = await restored.add("s", [1.0], request_id=f"r{requests - 1}")
    assert retried.added_count == 0
    await journal.close()


async def test_the_latest_request_ids_are_remembered_across_a_restart_and_older_ones_trimmed(
    data_dir: Path,
) -> None:
    store, journal = await open_store(data_dir, "always", remembered=8)
    await store.create_session("s")
    for index in range(20):
        await store.add("s", [float(index)], request_id=f"r{index}")
    await journal.close()

    (rows,) = query(data_dir, "SELECT count(*) FROM request_ids")
    assert rows < 2 * 8

    restored, journal = await open_store(data_dir, "always", remembered=8)
    assert (await restored.add("s", [99.0], request_id="r19")).added_count == 0
    assert (await restored.add("s", [99.0], request_id="r12")).added_count == 0
    assert (await restored.add("s", [99.0], request_id="r0")).added_count == 1
    await journal.close()


async def test_a_request_whose_caller_is_cancelled_is_still_applied_once_committed(
    data_dir: Path,
) -> None:
    store, journal = await open_store(data_dir, "always")
    await store.create_session("s")
    caller = asyncio.ensure_future(store.add("s", [1.0, 2.0, 3.0], request_id="r"))
    await asyncio.sleep(0)  # the request is committing now
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await journal.close()  # waits for the commit, after which the request is applied

    assert store.snapshot("s").number_count == 3
    restored, journal = await open_store(data_dir, "always")
    assert restored.snapshot("s").number_count == 3
    await journal.close()


async def test_every_writers_highest_seq_survives_a_restart(data_dir: Path) -> None:
    store, journal = await open_store(data_dir, "batch", remembered=8)
    await store.create_session("s")
    for writer in range(40):  # far more requests than the 8 plain ids remembered
        for seq in (1, 2, 3):
            await store.add("s", [float(writer)], request_id=f"w{writer}:{seq}")
    await store.add("s", [], request_id="empty:1")  # adds nothing, so records nothing
    await journal.close()

    (rows,) = query(data_dir, "SELECT count(*) FROM writers")
    assert rows == 40
    restored, journal = await open_store(data_dir, "batch", remembered=8)
    for writer in range(40):
        for seq in (1, 2, 3):
            retried = await restored.add("s", [99.0], request_id=f"w{writer}:{seq}")
            assert retried.added_count == 0
    assert (await restored.add("s", [5.0], request_id="w0:4")).added_count == 1
    assert restored.snapshot("s").number_count == 40 * 3 + 1
    await restored.delete("s")
    await journal.close()
    (rows,) = query(data_dir, "SELECT count(*) FROM writers")
    assert rows == 0


async def test_a_schema_version_1_folder_is_upgraded_and_keeps_its_sessions(
    data_dir: Path,
) -> None:
    store, journal = await open_store(data_dir, "always")
    await store.create_session("s")
    await store.add("s", [1.0, 2.0], request_id="old")
    await journal.close()
    with contextlib.closing(sqlite3.connect(data_dir / FILE_NAME)) as database:
        database.execute("DROP TABLE writers")
        database.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        database.commit()

    restored, journal = await open_store(data_dir, "always")
    assert restored.snapshot("s").number_count == 2
    assert (await restored.add("s", [1.0], request_id="old")).added_count == 0
    assert (await restored.add("s", [3.0], request_id="w:1")).added_count == 1
    await journal.close()
    assert query(data_dir, "SELECT value FROM meta WHERE key = 'schema_version'") == ("2",)
    assert query(data_dir, "SELECT writer, seq FROM writers") == ("w", 1)
