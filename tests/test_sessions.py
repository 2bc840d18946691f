"""The session store on its own: ids, limits, request-id memory, paging and idle expiry."""

from __future__ import annotations

import asyncio

import pytest
from median_server.errors import (
    EmptySessionError,
    InvalidArgumentError,
    LimitExceededError,
    SessionExistsError,
    SessionNotFoundError,
)
from median_server.sessions import REMEMBERED_REQUEST_IDS, Limits, SessionStore, Snapshot

from tests.clock import FakeClock


def store_with(clock: FakeClock | None = None, **limits: float) -> SessionStore:
    return SessionStore(Limits(**limits), clock or FakeClock())  # type: ignore[arg-type]


def test_create_without_an_id_picks_an_unguessable_url_safe_one() -> None:
    store = store_with()
    ids = {store.create(None) for _ in range(50)}
    assert len(ids) == 50
    for session_id in ids:
        assert len(session_id) >= 22  # 16 random bytes, base64url
        assert set(session_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_create_with_a_taken_id_is_refused() -> None:
    store = store_with()
    store.create("a")
    with pytest.raises(SessionExistsError):
        store.create("a")


async def test_add_then_read_count_and_median() -> None:
    store = store_with()
    store.create("s")
    outcome = await store.add("s", [5.0, 1.0, 3.0])
    assert outcome.added_count == 3
    assert outcome.snapshot == Snapshot("s", 3, 3.0)
    assert store.median("s") == Snapshot("s", 3, 3.0)


def test_median_of_an_empty_session_is_refused() -> None:
    store = store_with()
    store.create("s")
    with pytest.raises(EmptySessionError):
        store.median("s")
    assert store.snapshot("s") == Snapshot("s", 0, None)


async def test_a_request_id_is_applied_once_and_answered_again() -> None:
    store = store_with()
    store.create("s")
    first = await store.add("s", [1.0, 2.0], request_id="r1")
    again = await store.add("s", [1.0, 2.0], request_id="r1")
    assert first.added_count == 2
    assert again.added_count == 0
    assert again.snapshot == first.snapshot == Snapshot("s", 2, 1.5)


async def test_at_least_1024_request_ids_are_remembered() -> None:
    store = store_with()
    store.create("s")
    for i in range(REMEMBERED_REQUEST_IDS):
        await store.add("s", [float(i)], request_id=f"id-{i}")
    for i in range(REMEMBERED_REQUEST_IDS):
        assert (await store.add("s", [float(i)], request_id=f"id-{i}")).added_count == 0
    assert store.snapshot("s").number_count == REMEMBERED_REQUEST_IDS


async def test_session_number_limit_refuses_the_whole_request() -> None:
    store = store_with(max_session_numbers=5)
    store.create("s")
    await store.add("s", [1.0, 2.0, 3.0])
    with pytest.raises(LimitExceededError, match="--max-session-numbers") as refused:
        await store.add("s", [4.0, 5.0, 6.0])
    assert refused.value.limit == "max-session-numbers"
    assert "5" in refused.value.message
    assert store.snapshot("s") == Snapshot("s", 3, 2.0)
    await store.add("s", [4.0, 5.0])  # exactly at the limit is allowed
    assert store.snapshot("s").number_count == 5


async def test_total_number_limit_counts_every_session_and_frees_on_delete() -> None:
    store = store_with(max_total_numbers=4)
    store.create("a")
    store.create("b")
    await store.add("a", [1.0, 2.0, 3.0])
    with pytest.raises(LimitExceededError, match="--max-total-numbers"):
        await store.add("b", [1.0, 2.0])
    assert store.total_numbers == 3
    await store.delete("a")
    assert store.total_numbers == 0
    await store.add("b", [1.0, 2.0, 3.0, 4.0])
    assert store.total_numbers == 4


def test_session_count_limit() -> None:
    store = store_with(max_sessions=2)
    store.create("a")
    store.create("b")
    with pytest.raises(LimitExceededError, match="--max-sessions"):
        store.create("c")
    assert len(store) == 2


async def test_deleted_session_is_gone() -> None:
    store = store_with()
    store.create("s")
    await store.delete("s")
    with pytest.raises(SessionNotFoundError):
        store.snapshot("s")
    with pytest.raises(SessionNotFoundError):
        await store.delete("s")


async def test_idle_session_expires_after_its_ttl_and_every_touch_renews_it() -> None:
    clock = FakeClock()
    store = store_with(clock, session_ttl=60)
    store.create("s")
    clock.advance(50)
    await store.add("s", [1.0])  # touch
    clock.advance(50)
    assert store.snapshot("s").number_count == 1  # touch again, by reading
    clock.advance(59)
    assert store.median("s").number_count == 1
    clock.advance(61)
    with pytest.raises(SessionNotFoundError):
        store.snapshot("s")
    assert store.total_numbers == 0


def test_expire_idle_removes_only_idle_sessions() -> None:
    clock = FakeClock()
    store = store_with(clock, session_ttl=10)
    store.create("old")
    clock.advance(8)
    store.create("new")
    clock.advance(5)
    assert store.expire_idle() == 1
    assert [s.session_id for s in store.list_page(0, "")[0]] == ["new"]


def test_ttl_zero_keeps_sessions_forever() -> None:
    clock = FakeClock()
    store = store_with(clock, session_ttl=0)
    store.create("s")
    clock.advance(10**9)
    assert store.expire_idle() == 0
    assert store.snapshot("s").number_count == 0


async def test_large_request_is_invisible_until_applied_whole() -> None:
    store = SessionStore(Limits(), FakeClock(), apply_slice=100)
    store.create("s")
    seen: list[int] = []

    async def reader() -> None:
        for _ in range(30):
            seen.append(store.snapshot("s").number_count)
            await asyncio.sleep(0)

    await asyncio.gather(store.add("s", [float(i) for i in range(1000)]), reader())
    assert set(seen) <= {0, 1000}
    assert 0 in seen, "the reader ran while the request was being applied"
    assert store.snapshot("s") == Snapshot("s", 1000, 499.5)


async def test_concurrent_writers_interleave_by_whole_requests() -> None:
    store = SessionStore(Limits(), FakeClock(), apply_slice=10)
    store.create("s")
    outcomes = await asyncio.gather(*(store.add("s", [float(w)] * 25) for w in range(8)))
    counts = sorted(o.snapshot.number_count for o in outcomes)
    assert counts == [25 * (i + 1) for i in range(8)]
    assert store.snapshot("s").number_count == 200


def test_pages_cover_every_session_once_in_id_order() -> None:
    store = store_with()
    for i in range(25):
        store.create(f"s{i:02d}")
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = store.list_page(10, token)
        seen.extend(s.session_id for s in page)
        pages += 1
        if not token:
            break
    assert seen == [f"s{i:02d}" for i in range(25)]
    assert pages == 3


def test_page_size_zero_means_100_and_is_capped_at_1000() -> None:
    store = store_with(max_sessions=2000)
    for i in range(1500):
        store.create(f"s{i:04d}")
    assert len(store.list_page(0, "")[0]) == 100
    assert len(store.list_page(5000, "")[0]) == 1000


@pytest.mark.parametrize("token", ["garbage", "czA1", "AAAAAAAAAAAAAAAAczA1", "!!"])
def test_page_token_not_issued_by_the_server_is_refused(token: str) -> None:
    store = store_with()
    store.create("s")
    with pytest.raises(InvalidArgumentError, match="page_token"):
        store.list_page(10, token)


def test_negative_page_size_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="page_size"):
        store_with().list_page(-1, "")


async def test_tenants_see_only_their_own_sessions() -> None:
    store = store_with()
    store.create("shared-name", tenant="alpha")
    store.create("shared-name", tenant="beta")
    await store.add("shared-name", [1.0], tenant="alpha")
    await store.add("shared-name", [5.0, 7.0], tenant="beta")
    assert store.snapshot("shared-name", tenant="alpha") == Snapshot("shared-name", 1, 1.0)
    assert store.snapshot("shared-name", tenant="beta") == Snapshot("shared-name", 2, 6.0)
    store.create("alpha-only", tenant="alpha")
    with pytest.raises(SessionNotFoundError):
        store.snapshot("alpha-only", tenant="beta")
    with pytest.raises(SessionNotFoundError):
        await store.delete("alpha-only", tenant="beta")
    assert [s.session_id for s in store.list_page(0, "", tenant="beta")[0]] == ["shared-name"]
    assert len(store.list_page(0, "", tenant="alpha")[0]) == 2


def test_an_expired_session_does_not_block_its_id_or_the_session_limit() -> None:
    clock = FakeClock()
    store = store_with(clock, session_ttl=10, max_sessions=2)
    store.create("a")
    store.create("b")
    clock.advance(11)
    assert store.create("a") == "a"  # the idle "a" made way for a new one
    assert store.create("c") == "c"  # the idle "b" made room under the limit
    assert store.expired_count == 2


def test_create_does_not_sweep_every_session() -> None:
    clock = FakeClock()
    store = store_with(clock, session_ttl=10)
    store.create("idle")
    clock.advance(11)
    store.create("new")
    assert len(store) == 2, "sweeping is left to expire_idle while under the limit"
    assert store.expire_idle() == 1


async def test_a_writer_request_at_or_below_its_highest_applied_seq_is_a_retry() -> None:
    store = store_with()
    store.create("s")
    assert (await store.add("s", [1.0], request_id="w:1")).added_count == 1
    assert (await store.add("s", [2.0, 3.0], request_id="w:2")).added_count == 2
    assert (await store.add("s", [2.0, 3.0], request_id="w:2")).added_count == 0
    assert (await store.add("s", [1.0], request_id="w:1")).added_count == 0
    assert (await store.add("s", [4.0], request_id="w:3")).added_count == 1
    assert (await store.add("s", [5.0], request_id="other:1")).added_count == 1
    assert store.snapshot("s") == Snapshot("s", 5, 3.0)


async def test_every_writer_of_a_session_is_remembered_past_1024_other_requests() -> None:
    store = store_with()
    store.create("s")
    writers = [f"writer{index}" for index in range(3 * REMEMBERED_REQUEST_IDS)]
    for name in writers:
        await store.add("s", [1.0], request_id=f"{name}:1")
        await store.add("s", [2.0], request_id=f"{name}:2")
    for name in writers:
        assert (await store.add("s", [1.0], request_id=f"{name}:1")).added_count == 0
        assert (await store.add("s", [2.0], request_id=f"{name}:2")).added_count == 0
    assert store.snapshot("s").number_count == 2 * len(writers)


async def test_writers_are_per_session_and_forgotten_with_their_session() -> None:
    store = store_with()
    store.create("a")
    store.create("b")
    await store.add("a", [1.0], request_id="w:1")
    assert (await store.add("b", [1.0], request_id="w:1")).added_count == 1
    await store.delete("a")
    store.create("a")
    assert (await store.add("a", [1.0], request_id="w:1")).added_count == 1


async def test_a_writer_is_recorded_only_once_it_adds_numbers() -> None:
    store = store_with()
    store.create("s")
    await store.add("s", [], request_id="w:1")
    assert (await store.add("s", [7.0], request_id="w:1")).added_count == 1
    assert (await store.add("s", [7.0], request_id="w:1")).added_count == 0


async def test_request_ids_not_of_the_writer_form_keep_the_last_1024_rule() -> None:
    store = store_with()
    store.create("s")
    # Not `<writer>:<seq>`: no writer, seq 0, a leading zero, no digits.
    odd_ids = [":1", "w:0", "w:01", "w:", "w:x", "plain"]
    for request_id in odd_ids:
        assert (await store.add("s", [1.0], request_id=request_id)).added_count == 1
        assert (await store.add("s", [1.0], request_id=request_id)).added_count == 0
    for index in range(REMEMBERED_REQUEST_IDS):
        await store.add("s", [2.0], request_id=f"id-{index}")
    assert (await store.add("s", [1.0], request_id="plain")).added_count == 1


def test_writer_sequence_splits_at_the_last_colon() -> None:
    from median_server.validation import writer_sequence

    assert writer_sequence("AbC-_9:12") == ("AbC-_9", 12)
    assert writer_sequence("a:b:3") == ("a:b", 3)
    assert writer_sequence("w:123456789012345678") == ("w", 123456789012345678)
    for not_a_writer in (
        "",
        "w",
        "w:",
        ":5",
        "w:0",
        "w:007",
        "w:-1",
        "w:1x",
        "w:1234567890123456789",
    ):
        assert writer_sequence(not_a_writer) is None
