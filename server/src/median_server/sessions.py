"""The session store: named MedianFinders, their limits, request-id memory and idle expiry.

Writers to one session take turns under the session's lock, a whole request at a time; readers
never wait: they read the snapshot published after the last applied request. A large request is
applied in slices that give the event loop room between them, and since the snapshot changes
only when the request is complete, nobody sees half of it.

With a journal (`--data-dir`), every change is committed to it before it is applied in memory
and answered: a request is reserved against the limits, committed, applied, then published. A
refused request writes nothing. Without one, nothing here waits on anything but the lock.

Retries are recognised two ways. A request id of the form `<writer>:<seq>` (what the client
libraries send: one writer per ingest call, seq 1, 2, 3, ... in sending order) is a retry when
its seq is at or below the highest seq the session has applied for that writer; the session
keeps that highest seq for every writer that has added numbers to it, for the session's whole
life, so any number of writers may resume after any number of requests. Memory: one entry per
writer (about 150 bytes), never more writers than numbers in the session, freed with the
session (deleted or expired). Any other request id is a retry when it is among the last
`REMEMBERED_REQUEST_IDS` other ids the session applied.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from median_server.errors import (
    EmptySessionError,
    InvalidArgumentError,
    LimitExceededError,
    SessionExistsError,
    SessionNotFoundError,
    StorageUnavailableError,
)
from median_server.median_finder import MedianFinder, Numbers, as_numbers
from median_server.storage import DataFolderError, Journal
from median_server.validation import writer_sequence

REMEMBERED_REQUEST_IDS = 1024
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
APPLY_SLICE = 32_768  # numbers applied between two yields to the event loop (about 1 ms)


@dataclass(frozen=True)
class Limits:
    """The server's limits; see the command-line flags of the same names."""

    max_sessions: int = 10_000
    max_session_numbers: int = 10_000_000
    max_total_numbers: int = 100_000_000
    session_ttl: float = 3600.0  # seconds; 0 keeps sessions forever


@dataclass(frozen=True)
class Snapshot:
    """A session's state after its last applied request."""

    session_id: str
    number_count: int
    median: float | None


@dataclass(frozen=True)
class AddOutcome:
    """What one request did: how many numbers it added, and the session's state after it."""

    added_count: int
    snapshot: Snapshot


@dataclass(eq=False)
class _Session:
    tenant: str
    session_id: str
    touched_at: float
    finder: MedianFinder = field(default_factory=MedianFinder)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    applied_request_ids: OrderedDict[str, None] = field(default_factory=OrderedDict)
    # The highest applied seq of each `<writer>:<seq>` writer that added numbers.
    writer_seqs: dict[str, int] = field(default_factory=dict)
    reserved: int = 0  # numbers counted against the limits, applied or being applied
    deleted: bool = False
    snapshot: Snapshot = field(init=False)

    def __post_init__(self) -> None:
        self.snapshot = Snapshot(self.session_id, 0, None)

    def already_applied(self, request_id: str, writer: tuple[str, int] | None) -> bool:
        """Whether a request with this id was applied before (a retry); `writer` is the id's
        `writer_sequence`, read once per request by the caller."""
        if writer is not None:
            name, seq = writer
            return seq <= self.writer_seqs.get(name, 0)
        if request_id in self.applied_request_ids:
            self.applied_request_ids.move_to_end(request_id)
            return True
        return False

    def remember(self, request_id: str, writer: tuple[str, int] | None, added: int) -> None:
        """Records an applied request's id. A writer is recorded only once it adds numbers:
        applying an empty request twice changes nothing, and writers stay at most as many as
        the session's numbers."""
        if writer is not None:
            if added:
                name, seq = writer
                self.writer_seqs[name] = max(seq, self.writer_seqs.get(name, 0))
        elif request_id:
            self.applied_request_ids[request_id] = None
            if len(self.applied_request_ids) > REMEMBERED_REQUEST_IDS:
                self.applied_request_ids.popitem(last=False)


class SessionStore:
    """Every session of one server, with the server's limits."""

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        apply_slice: int = APPLY_SLICE,
        journal: Journal | None = None,
    ) -> None:
        self.limits = limits
        self._clock = clock  # with a journal, wall-clock seconds: touch times outlive restarts
        self.apply_slice = apply_slice
        self._journal = journal
        # Keyed by (tenant, session id): a tenant sees only its own sessions; "" when there is
        # no authentication.
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._reserved_total = 0
        self._token_key = secrets.token_bytes(32)
        self.expired_count = 0  # sessions removed for idleness since the start, for metrics
        self.created_count = 0  # sessions made (or read back) since the start

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def total_numbers(self) -> int:
        """Numbers held by every session, counting those of requests being applied."""
        return self._reserved_total

    def create(self, session_id: str | None, tenant: str = "") -> str:
        """Makes an empty session; with no id, picks an unguessable one (128 random bits).

        O(1): idle sessions are swept by `expire_idle` (the server runs it now and then), and
        here only when they stand in the way: an expired session of the same id, or the limit.
        """
        if session_id is None:
            session_id = secrets.token_urlsafe(16)
        elif (existing := self._sessions.get((tenant, session_id))) and not self._expire_if_idle(
            existing
        ):
            raise SessionExistsError(session_id)
        if len(self._sessions) >= self.limits.max_sessions:
            self.expire_idle()
        if len(self._sessions) >= self.limits.max_sessions:
            raise LimitExceededError(
                "max-sessions",
                self.limits.max_sessions,
                f"the server holds its maximum of {self.limits.max_sessions} sessions "
                "(--max-sessions); delete sessions you no longer need, or raise the limit",
            )
        touched_at = self._clock()
        if self._journal is not None:
            self._journal.create(tenant, session_id, touched_at)  # refuses if it cannot write
        self._sessions[tenant, session_id] = _Session(tenant, session_id, touched_at)
        self.created_count += 1
        return session_id

    async def create_session(self, session_id: str | None, tenant: str = "") -> str:
        """Like `create`; with a journal, returns once the new session is committed."""
        session_id = self.create(session_id, tenant)
        if self._journal is not None:
            try:
                await self._journal.barrier()
            except StorageUnavailableError:
                if session := self._sessions.get((tenant, session_id)):
                    self._remove(session)
                    self._forget(session)
                raise
        return session_id

    def restore(self) -> tuple[int, int]:
        """Loads the journal's sessions, dropping those already expired; (sessions, numbers).

        Raises DataFolderError when the folder holds more than the limits allow.
        """
        if self._journal is None:
            return 0, 0
        ttl = self.limits.session_ttl
        for stored in self._journal.load(self._clock() - ttl if ttl else None):
            count = len(stored.numbers)
            if problem := self._over_limits(stored.session_id, count):
                raise DataFolderError(
                    f"--data-dir {self._journal.folder} holds {problem}; raise the limit to "
                    "start with these sessions"
                )
            session = _Session(stored.tenant, stored.session_id, stored.touched_at)
            session.finder.add_many(stored.numbers)  # one batch: one sort of the whole session
            session.applied_request_ids.update(dict.fromkeys(stored.request_ids))
            session.writer_seqs.update(stored.writer_seqs)
            session.reserved = count
            session.snapshot = Snapshot(stored.session_id, count, session.finder.median())
            self._sessions[stored.tenant, stored.session_id] = session
            self.created_count += 1
            self._reserved_total += count
        return len(self._sessions), self._reserved_total

    def snapshot(self, session_id: str, tenant: str = "") -> Snapshot:
        """The session's count and median, touching it."""
        return self._touch(self._find(session_id, tenant)).snapshot

    def median(self, session_id: str, tenant: str = "") -> Snapshot:
        """The session's count and median; refuses an empty session."""
        snapshot = self.snapshot(session_id, tenant)
        if snapshot.median is None:
            raise EmptySessionError(session_id)
        return snapshot

    def _over_limits(self, session_id: str, count: int) -> str:
        """Which limit a restored session of `count` numbers would pass, if any."""
        limits = self.limits
        if len(self._sessions) >= limits.max_sessions:
            return f"more than --max-sessions {limits.max_sessions} sessions"
        if count > limits.max_session_numbers:
            return (
                f'{count} numbers in session "{session_id}", more than --max-session-numbers '
                f"{limits.max_session_numbers}"
            )
        if self._reserved_total + count > limits.max_total_numbers:
            return f"more than --max-total-numbers {limits.max_total_numbers} numbers"
        return ""

    async def delete(self, session_id: str, tenant: str = "") -> None:
        """Removes the session once requests being applied to it are done."""
        session = self._find(session_id, tenant)
        if self._journal is not None:
            return await _shielded(self._delete_durably(session, self._journal))
        async with session.lock:
            if session.deleted:
                raise SessionNotFoundError(session_id)
            self._remove(session)

    async def add(
        self,
        session_id: str,
        numbers: Numbers | Sequence[float],
        request_id: str = "",
        tenant: str = "",
    ) -> AddOutcome:
        """Applies one request whole, or refuses it and changes nothing.

        ``numbers``: a float64 array (or a sequence of floats), already checked finite; it is
        read, not kept. A request whose id the session has applied before is answered with the
        current state and not applied again. A request whose work suspends (a commit to the
        journal, or the slices of a large request) runs to its end even if the caller is
        cancelled: a client that cancels keeps what was accepted, whole.
        """
        session = self._find(session_id, tenant)
        numbers = as_numbers(numbers)
        applying = self._apply(session, numbers, request_id)
        if len(numbers) > self.apply_slice or (self._journal is not None and len(numbers)):
            return await _shielded(applying)
        return await applying

    async def _apply(self, session: _Session, numbers: Numbers, request_id: str) -> AddOutcome:
        """`add` under the session's lock: reserve, commit (with a journal), apply, publish."""
        async with session.lock:
            if session.deleted:
                raise SessionNotFoundError(session.session_id)
            writer = writer_sequence(request_id) if request_id else None
            if request_id and session.already_applied(request_id, writer):
                return AddOutcome(0, self._touch(session).snapshot)
            count = len(numbers)
            self._reserve(session, count)
            # With no numbers a request changes nothing worth a commit: a retry after a crash
            # adds nothing either, and its touch is written like a read's.
            journal = self._journal if count else None
            if journal is not None:
                touched_at = self._clock()
                try:
                    await journal.append(
                        session.tenant, session.session_id, numbers, request_id, touched_at
                    )
                except BaseException:
                    session.reserved -= count
                    self._reserved_total -= count
                    raise
            step = self.apply_slice
            if count <= step:  # most requests: no slices, no yield
                session.finder.add_many(numbers)
            else:
                for start in range(0, count, step):
                    if start:
                        await asyncio.sleep(0)
                    session.finder.add_many(numbers[start : start + step])
            session.remember(request_id, writer, count)
            session.snapshot = Snapshot(
                session.session_id, len(session.finder), session.finder.median()
            )
            if journal is not None:
                session.touched_at = touched_at  # the journal has this touch already
            else:
                self._touch(session)
            return AddOutcome(count, session.snapshot)

    async def _delete_durably(self, session: _Session, journal: Journal) -> None:
        async with session.lock:
            if session.deleted:
                raise SessionNotFoundError(session.session_id)
            if committed := journal.delete(session.tenant, session.session_id):
                await committed
            self._remove(session)

    def list_page(
        self, page_size: int, page_token: str, tenant: str = ""
    ) -> tuple[list[Snapshot], str]:
        """One page of sessions ordered by id, and the token of the next page ("" at the end)."""
        if page_size < 0:
            raise InvalidArgumentError(f"page_size is {page_size}; it must be 0 or more")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = self._decode_page_token(page_token) if page_token else None
        self.expire_idle()
        ids = sorted(i for t, i in self._sessions if t == tenant and (after is None or i > after))
        page = [self._sessions[tenant, i].snapshot for i in ids[:size]]
        next_token = self._encode_page_token(ids[size - 1]) if len(ids) > size else ""
        return page, next_token

    def expire_idle(self) -> int:
        """Removes every session untouched for longer than the time-to-live; returns how many."""
        if not self.limits.session_ttl:
            return 0
        expired = [s for s in self._sessions.values() if self._is_expired(s)]
        for session in expired:
            self._remove(session)
            self._forget(session)
        self.expired_count += len(expired)
        return len(expired)

    def _find(self, session_id: str, tenant: str) -> _Session:
        session = self._sessions.get((tenant, session_id))
        if session is None or self._expire_if_idle(session):
            raise SessionNotFoundError(session_id)
        return session

    def _expire_if_idle(self, session: _Session) -> bool:
        """Removes the session if it has been idle past the time-to-live; says whether it did."""
        if not self._is_expired(session):
            return False
        self._remove(session)
        self._forget(session)
        self.expired_count += 1
        return True

    def _is_expired(self, session: _Session) -> bool:
        ttl = self.limits.session_ttl
        return bool(ttl) and not session.lock.locked() and self._clock() - session.touched_at > ttl

    def _touch(self, session: _Session) -> _Session:
        session.touched_at = self._clock()
        if self._journal is not None:
            self._journal.touch(session.tenant, session.session_id, session.touched_at)
        return session

    def _forget(self, session: _Session) -> None:
        """Deletes an expired session from the journal too, without waiting for the commit.

        A crash before that commit loses nothing: the restarted server drops it by its age.
        """
        if self._journal is not None:
            self._journal.delete(session.tenant, session.session_id, wait=False)

    def _remove(self, session: _Session) -> None:
        session.deleted = True
        del self._sessions[session.tenant, session.session_id]
        self._reserved_total -= session.reserved

    def _reserve(self, session: _Session, count: int) -> None:
        limits = self.limits
        if session.reserved + count > limits.max_session_numbers:
            raise LimitExceededError(
                "max-session-numbers",
                limits.max_session_numbers,
                f'adding {count} numbers would give session "{session.session_id}" '
                f"{session.reserved + count}, over the limit of {limits.max_session_numbers} "
                "numbers per session (--max-session-numbers); nothing was added. Start a new "
                "session, or raise the limit",
            )
        if self._reserved_total + count > limits.max_total_numbers:
            raise LimitExceededError(
                "max-total-numbers",
                limits.max_total_numbers,
                f"adding {count} numbers would give the server {self._reserved_total + count}, "
                f"over its limit of {limits.max_total_numbers} numbers in all sessions "
                "(--max-total-numbers); nothing was added. Delete sessions you no longer need, "
                "or raise the limit",
            )
        session.reserved += count
        self._reserved_total += count

    def _encode_page_token(self, last_id: str) -> str:
        body = last_id.encode()
        tag = hmac.new(self._token_key, body, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(tag + body).decode().rstrip("=")

    def _decode_page_token(self, token: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raw = b""
        tag, body = raw[:12], raw[12:]
        expected = hmac.new(self._token_key, body, hashlib.sha256).digest()[:12]
        if len(tag) < 12 or not hmac.compare_digest(tag, expected):
            raise InvalidArgumentError(
                "page_token was not issued by this server; pass the next_page_token of the "
                "previous ListSessions answer, or an empty token for the first page"
            )
        return body.decode()


_T = TypeVar("_T")


async def _shielded(operation: Coroutine[Any, Any, _T]) -> _T:
    """Runs `operation` to its end even if the caller is cancelled.

    Once the journal has committed a change, it must be applied in memory too: otherwise a
    restart would bring back what the running server never showed.
    """
    task = asyncio.ensure_future(operation)
    task.add_done_callback(_retrieve_exception)
    return await asyncio.shield(task)


def _retrieve_exception(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
