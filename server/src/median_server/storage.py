"""Durable sessions: the journal of every change, in an SQLite database in the data folder.

With `--data-dir DIR`, the session store hands each change (a session made, a request's numbers
and request id, a session deleted) to the `Journal` and applies it in memory only once it is
committed; on start, the journal gives every session back. The database is `DIR/median.sqlite3`
in WAL mode with `synchronous=FULL`: a commit returns after the WAL is fsynced, so a committed
change survives a crash of the process, of the kernel, or of the power (as far as the disk keeps
the promise of its flush). The connection holds an exclusive lock, so a second server cannot
open the same folder.

One dedicated writer thread owns the connection after start; the event loop never waits on the
disk. It enqueues an operation and awaits a future that the writer resolves after the commit
holding the operation. `sync="always"` commits each operation in its own transaction;
`sync="batch"` commits every operation waiting in one, and when the previous commit held several
(a sign of concurrent clients), first waits up to `BATCH_WINDOW` for as many to arrive.

Numbers are stored as one packed blob per request (little-endian doubles, with a CRC-32), never
a row per number. A session's small rows are merged into one when there are `COMPACT_ROWS` of
them, so that a start reads about one row per `SMALL_ROW_NUMBERS` numbers: its time stays
proportional to the numbers stored. The median depends only on which numbers a session holds,
not on their order, so rows may be merged in any order.

Layout, schema version 2 (version 1 lacked `writers`; it is upgraded in place at the start):
  meta(key, value)                              "schema_version" -> "2"
  sessions(key, tenant, session_id, touched_at)  touched_at: wall-clock seconds of the last touch
  batches(id, session, numbers, checksum)        one row per request, or per merge of small rows
  request_ids(id, session, request_id)           the latest `remembered` ids of each session that
                                                 are not of the `<writer>:<seq>` form
  writers(session, writer, seq)                  per `<writer>:<seq>` writer of a session, the
                                                 highest seq applied (all of them, never trimmed)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import queue
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from median_server.errors import StorageUnavailableError
from median_server.median_finder import Numbers, as_numbers
from median_server.validation import writer_sequence

log = logging.getLogger(__name__)

FILE_NAME = "median.sqlite3"
SCHEMA_VERSION = 2
SYNC_MODES = ("always", "batch")
BATCH_WINDOW = 0.002  # seconds `batch` waits for more operations when clients are concurrent
SMALL_ROW_NUMBERS = 1024  # rows with fewer numbers than this are merged ...
COMPACT_ROWS = 128  # ... once a session has this many of them
TOUCH_FLUSH_SECONDS = 1.0  # touches by reads (GetMedian) reach the disk within about this long
_SMALL_ROW_BYTES = SMALL_ROW_NUMBERS * 8
_STORED = np.dtype("<f8")  # little-endian doubles, whatever the machine

_WRITERS_SCHEMA = """
CREATE TABLE writers (
    session INTEGER NOT NULL,
    writer TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (session, writer)
) WITHOUT ROWID;
"""
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
    key INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    session_id TEXT NOT NULL,
    touched_at REAL NOT NULL,
    UNIQUE (tenant, session_id)
);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL,
    numbers BLOB NOT NULL,
    checksum INTEGER NOT NULL
);
CREATE INDEX batches_by_session ON batches (session, id);
CREATE TABLE request_ids (
    id INTEGER PRIMARY KEY,
    session INTEGER NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX request_ids_by_session ON request_ids (session, id);
"""


class DataFolderError(Exception):
    """The data folder cannot be used: the server must not start (an empty server would lie)."""


@dataclass
class StoredSession:
    """One session as the data folder holds it."""

    tenant: str
    session_id: str
    touched_at: float  # wall-clock seconds
    numbers: Numbers  # float64
    request_ids: list[str]  # oldest first, at most the journal's `remembered`
    writer_seqs: dict[str, int] = field(default_factory=dict)  # writer -> highest applied seq


class _Kind(enum.Enum):
    CREATE = enum.auto()
    APPEND = enum.auto()
    DELETE = enum.auto()
    BARRIER = enum.auto()  # writes nothing; resolves once everything before it is committed


@dataclass(slots=True)
class _Op:
    kind: _Kind
    key: int = 0
    tenant: str = ""
    session_id: str = ""
    touched_at: float = 0.0
    blob: bytes = b""
    request_id: str = ""
    future: asyncio.Future[None] | None = None


_STOP = _Op(_Kind.BARRIER)  # tells the writer to finish what is queued and close


@dataclass
class _WriterState:
    """What the writer thread keeps per session: rows to merge, request ids to trim."""

    small_rows: dict[int, int] = field(default_factory=dict)
    request_id_rows: dict[int, int] = field(default_factory=dict)


class Journal:
    """The data folder's database: `open_journal` makes one; `load`, then `start`, then use."""

    def __init__(
        self,
        folder: Path,
        connection: sqlite3.Connection,
        sync: str,
        on_commit: Callable[[float], None] | None = None,
        remembered: int = 1024,
    ) -> None:
        if sync not in SYNC_MODES:
            raise ValueError(f"sync must be one of {', '.join(SYNC_MODES)}, not {sync!r}")
        self.folder = folder
        self.sync = sync
        self.commits = 0  # transactions committed since the start (compactions included)
        self._connection = connection
        self.on_commit = on_commit  # called on the writer thread with each commit's seconds
        self._remembered = remembered
        self._keys: dict[tuple[str, str], int] = {}  # event loop's side: (tenant, id) -> key
        self._next_key = 1
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._touches: dict[int, float] = {}  # key -> wall-clock seconds, not yet written
        self._touches_lock = threading.Lock()
        self._state = _WriterState()
        self._failure: StorageUnavailableError | None = None
        self._last_group = 1
        self._thread: threading.Thread | None = None
        self._closed = False

    # Start: read everything back, then hand the connection to the writer thread.

    def load(self, expired_before: float | None = None) -> Iterator[StoredSession]:
        """Yields every stored session, after deleting those touched before `expired_before`.

        Raises DataFolderError when a row is damaged. Call before `start`.
        """
        connection = self._connection
        try:
            if expired_before is not None:
                with self._transaction():
                    expired = [
                        key
                        for (key,) in connection.execute(
                            "SELECT key FROM sessions WHERE touched_at < ?", (expired_before,)
                        )
                    ]
                    for key in expired:
                        self._delete_rows(key)
                if expired:
                    log.info(
                        "dropped %d sessions that expired while the server was down", len(expired)
                    )
            rows = connection.execute(
                "SELECT key, tenant, session_id, touched_at FROM sessions ORDER BY key"
            ).fetchall()
            for key, tenant, session_id, touched_at in rows:
                self._next_key = max(self._next_key, key + 1)
                self._keys[tenant, session_id] = key
                yield self._load_session(key, tenant, session_id, touched_at)
        except sqlite3.Error as error:
            raise DataFolderError(_describe_sqlite_error(self.folder, error)) from None

    def _load_session(
        self, key: int, tenant: str, session_id: str, touched_at: float
    ) -> StoredSession:
        (size,) = self._connection.execute(
            "SELECT total(length(numbers)) FROM batches WHERE session = ?", (key,)
        ).fetchone()
        # One array for the whole session, filled row by row: numpy backs a large array with
        # huge pages where it can, so this costs far fewer page faults than joining the rows.
        numbers = np.empty(int(size) // 8, _STORED)
        filled = numbers.view(np.uint8)
        at = 0
        small_rows = 0
        for row_id, blob, checksum in self._connection.execute(
            "SELECT id, numbers, checksum FROM batches WHERE session = ? ORDER BY id", (key,)
        ):
            if len(blob) % 8 or zlib.crc32(blob) != checksum or at + len(blob) > len(filled):
                raise DataFolderError(
                    f"--data-dir {self.folder}: {FILE_NAME} is damaged: the numbers of session "
                    f'"{session_id}" (row {row_id}) fail their checksum. Restore the folder from '
                    "a backup, or move it away to start with no sessions"
                )
            filled[at : at + len(blob)] = np.frombuffer(blob, np.uint8)
            at += len(blob)
            small_rows += len(blob) < _SMALL_ROW_BYTES
        numbers = numbers.astype(np.float64, copy=False)
        request_ids = [
            request_id
            for (request_id,) in self._connection.execute(
                "SELECT request_id FROM request_ids WHERE session = ? ORDER BY id DESC LIMIT ?",
                (key, self._remembered),
            )
        ]
        request_ids.reverse()
        (id_rows,) = self._connection.execute(
            "SELECT count(*) FROM request_ids WHERE session = ?", (key,)
        ).fetchone()
        writer_seqs = dict(
            self._connection.execute("SELECT writer, seq FROM writers WHERE session = ?", (key,))
        )
        self._state.small_rows[key] = small_rows
        self._state.request_id_rows[key] = id_rows
        return StoredSession(tenant, session_id, touched_at, numbers, request_ids, writer_seqs)

    def start(self) -> None:
        """Starts the writer thread; from here on only it uses the connection."""
        self._thread = threading.Thread(target=self._run, name="median-journal", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Writes what is queued (and pending touches), then closes the database."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            self._connection.close()
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # The event loop's side: each call enqueues and returns at once.

    def create(self, tenant: str, session_id: str, touched_at: float) -> None:
        """Stores a new session; `barrier()` says when it is committed."""
        self._check_open()
        key = self._next_key
        self._next_key += 1
        self._keys[tenant, session_id] = key
        self._queue.put(_Op(_Kind.CREATE, key, tenant, session_id, touched_at))

    def append(
        self,
        tenant: str,
        session_id: str,
        numbers: Numbers | Sequence[float],
        request_id: str,
        touched_at: float,
    ) -> asyncio.Future[None]:
        """Stores one request's numbers and id; the future resolves once they are committed.

        ``numbers``: a float64 array (or a sequence of floats), written as its bytes.
        """
        self._check_open()
        blob = as_numbers(numbers).astype(_STORED, copy=False).tobytes()
        future = asyncio.get_running_loop().create_future()
        key = self._keys[tenant, session_id]
        self._queue.put(_Op(_Kind.APPEND, key, "", "", touched_at, blob, request_id, future))
        return future

    def delete(
        self, tenant: str, session_id: str, wait: bool = True
    ) -> asyncio.Future[None] | None:
        """Removes a session; with `wait`, the future resolves once that is committed."""
        key = self._keys.pop((tenant, session_id), None)
        if key is None:
            return None
        if not wait:  # expiry: a crash before the commit loses nothing, the session is expired
            if self._failure is None and not self._closed:
                self._queue.put(_Op(_Kind.DELETE, key))
            return None
        self._check_open()
        future = asyncio.get_running_loop().create_future()
        self._queue.put(_Op(_Kind.DELETE, key, future=future))
        return future

    def barrier(self) -> asyncio.Future[None]:
        """A future that resolves once everything enqueued before it is committed."""
        self._check_open()
        future = asyncio.get_running_loop().create_future()
        self._queue.put(_Op(_Kind.BARRIER, future=future))
        return future

    def touch(self, tenant: str, session_id: str, touched_at: float) -> None:
        """Records a touch by a read; it is written with the next commit, within a second."""
        key = self._keys.get((tenant, session_id))
        if key is not None:
            with self._touches_lock:
                self._touches[key] = touched_at

    def _check_open(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise StorageUnavailableError(
                "the server is shutting down and its data folder is closed; nothing was applied. "
                "Retry on another server"
            )

    # The writer thread.

    def _run(self) -> None:
        try:
            self._serve()
        except Exception as error:  # a bug; refuse every change rather than leave one waiting
            log.exception("the data folder's writer stopped")
            if self._failure is None:
                self._failure = StorageUnavailableError(
                    f"the server's data folder writer stopped ({error!r}); nothing was applied. "
                    "Retry on another server"
                )
            while (op := self._queue.get()) is not _STOP:
                self._settle([op.future] if op.future else [], self._failure)
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=TOUCH_FLUSH_SECONDS)
            except queue.Empty:
                if self._touches:
                    self._commit([])
                continue
            if first is _STOP:
                break
            ops, stopping = self._gather(first)
            if self.sync == "always":
                for op in ops:
                    self._commit([op])
            else:
                self._commit(ops)
            self._compact()
        if self._touches:
            self._commit([])

    def _gather(self, first: _Op) -> tuple[list[_Op], bool]:
        """The operations to commit now, and whether a stop came in with them.

        In `batch` mode: everything waiting, and when the previous commit answered several
        callers, whatever else arrives within BATCH_WINDOW until as many callers wait again.
        A lone client never waits for the window.
        """
        ops = [first]
        if self.sync == "always":
            return ops, False
        stopping = self._drain(ops)
        deadline = time.monotonic() + BATCH_WINDOW
        while not stopping and _waiting(ops) < self._last_group:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                op = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if op is _STOP:
                stopping = True
                break
            ops.append(op)
            stopping = self._drain(ops)
        self._last_group = _waiting(ops)
        return ops, stopping

    def _drain(self, ops: list[_Op]) -> bool:
        while True:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                return False
            if op is _STOP:
                return True
            ops.append(op)

    def _commit(self, ops: list[_Op]) -> None:
        """Writes `ops` and pending touches in one transaction; settles the ops' futures."""
        futures = [op.future for op in ops if op.future is not None]
        writes = [op for op in ops if op.kind is not _Kind.BARRIER]
        with self._touches_lock:
            touches, self._touches = self._touches, {}
        if self._failure is not None or not (writes or touches):
            self._settle(futures, self._failure)
            return
        started = time.perf_counter()
        try:
            with self._transaction():
                for op in writes:
                    self._write(op)
                if touches:
                    self._connection.executemany(
                        "UPDATE sessions SET touched_at = max(touched_at, ?) WHERE key = ?",
                        [(at, key) for key, at in touches.items()],
                    )
        except sqlite3.Error as error:
            self._fail(error)
            self._settle(futures, self._failure)
            return
        self._committed(time.perf_counter() - started)
        self._settle(futures, None)

    def _write(self, op: _Op) -> None:
        connection = self._connection
        key = op.key
        if op.kind is _Kind.APPEND:
            if op.blob:
                connection.execute(
                    "INSERT INTO batches (session, numbers, checksum) VALUES (?, ?, ?)",
                    (key, op.blob, zlib.crc32(op.blob)),
                )
                if len(op.blob) < _SMALL_ROW_BYTES:
                    self._state.small_rows[key] = self._state.small_rows.get(key, 0) + 1
            if (writer := writer_sequence(op.request_id)) is not None:
                connection.execute(
                    "INSERT INTO writers (session, writer, seq) VALUES (?, ?, ?) ON CONFLICT "
                    "(session, writer) DO UPDATE SET seq = max(seq, excluded.seq)",
                    (key, *writer),
                )
            elif op.request_id:
                connection.execute(
                    "INSERT INTO request_ids (session, request_id) VALUES (?, ?)",
                    (key, op.request_id),
                )
                self._state.request_id_rows[key] = self._state.request_id_rows.get(key, 0) + 1
            connection.execute(
                "UPDATE sessions SET touched_at = ? WHERE key = ?", (op.touched_at, key)
            )
        elif op.kind is _Kind.CREATE:
            connection.execute(
                "INSERT INTO sessions (key, tenant, session_id, touched_at) VALUES (?, ?, ?, ?)",
                (key, op.tenant, op.session_id, op.touched_at),
            )
        elif op.kind is _Kind.DELETE:
            self._delete_rows(key)

    def _delete_rows(self, key: int) -> None:
        for table, column in (
            ("batches", "session"),
            ("request_ids", "session"),
            ("writers", "session"),
            ("sessions", "key"),
        ):
            self._connection.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,))  # noqa: S608
        self._state.small_rows.pop(key, None)
        self._state.request_id_rows.pop(key, None)

    def _compact(self) -> None:
        """Merges a session's small rows into one, and trims its old request ids."""
        state = self._state
        due = [key for key, rows in state.small_rows.items() if rows >= COMPACT_ROWS]
        trim = [key for key, rows in state.request_id_rows.items() if rows >= 2 * self._remembered]
        if self._failure is not None or not (due or trim):
            return
        started = time.perf_counter()
        try:
            with self._transaction():
                for key in due:
                    self._merge_small_rows(key)
                for key in trim:
                    self._connection.execute(
                        "DELETE FROM request_ids WHERE session = ? AND id <= (SELECT id FROM "
                        "request_ids WHERE session = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                        (key, key, self._remembered),
                    )
                    state.request_id_rows[key] = self._remembered
        except sqlite3.Error as error:
            self._fail(error)
            return
        self._committed(time.perf_counter() - started)

    def _merge_small_rows(self, key: int) -> None:
        rows = self._connection.execute(
            "SELECT id, numbers FROM batches WHERE session = ? AND length(numbers) < ? ORDER BY id",
            (key, _SMALL_ROW_BYTES),
        ).fetchall()
        merged = b"".join(blob for _, blob in rows)
        self._connection.executemany("DELETE FROM batches WHERE id = ?", [(i,) for i, _ in rows])
        self._connection.execute(
            "INSERT INTO batches (session, numbers, checksum) VALUES (?, ?, ?)",
            (key, merged, zlib.crc32(merged)),
        )
        self._state.small_rows[key] = int(len(merged) < _SMALL_ROW_BYTES)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def _committed(self, seconds: float) -> None:
        self.commits += 1
        if self.on_commit is not None:
            try:
                self.on_commit(seconds)
            except Exception:
                log.exception("the commit callback failed")

    def _fail(self, error: sqlite3.Error) -> None:
        log.error(
            "cannot write to the data folder %s (%s); refusing every change from now on. "
            "Check the disk, then restart the server: it reads back everything committed",
            self.folder,
            error,
        )
        self._failure = StorageUnavailableError(
            f"the server cannot write to its data folder ({error}), so this change was not "
            "applied; it takes no changes until it is restarted. Retry on another server, or "
            "later with the same request_id"
        )

    def _settle(
        self, futures: list[asyncio.Future[None]], error: StorageUnavailableError | None
    ) -> None:
        if not futures:
            return
        # RuntimeError: the event loop is closed, and nobody waits for these any more.
        with contextlib.suppress(RuntimeError):
            futures[0].get_loop().call_soon_threadsafe(_settle_futures, futures, error)


def _waiting(ops: list[_Op]) -> int:
    """How many callers wait for these operations' commit."""
    return sum(op.future is not None for op in ops)


def _settle_futures(
    futures: list[asyncio.Future[None]], error: StorageUnavailableError | None
) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def open_journal(
    folder: str | os.PathLike[str],
    sync: str = "batch",
    on_commit: Callable[[float], None] | None = None,
    remembered: int = 1024,
) -> Journal:
    """Opens (or makes) the database in `folder`; raises DataFolderError naming what is wrong."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise DataFolderError(f"--data-dir {path}: is not a folder; name a folder (it may be new)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataFolderError(
            f"--data-dir {path}: cannot make the folder ({error.strerror}); make it, or name "
            "another"
        ) from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise DataFolderError(
            f"--data-dir {path}: the folder is not writable by this user; give the server's user "
            "read and write access to it, or name another"
        )
    database = path / FILE_NAME
    try:
        connection = sqlite3.connect(
            f"file:{quote(str(database))}?mode=rwc",
            uri=True,
            timeout=0,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # the writer thread takes it over after the start
        )
    except sqlite3.Error as error:
        raise DataFolderError(_describe_sqlite_error(path, error)) from None
    try:
        _prepare(connection, path)
    except sqlite3.Error as error:
        connection.close()
        raise DataFolderError(_describe_sqlite_error(path, error)) from None
    except DataFolderError:
        connection.close()
        raise
    return Journal(path, connection, sync, on_commit, remembered)


def _prepare(connection: sqlite3.Connection, folder: Path) -> None:
    """Takes the exclusive lock, checks the file, and makes or checks the schema."""
    connection.execute("PRAGMA locking_mode = EXCLUSIVE")  # before WAL: no shared-memory file
    connection.execute("BEGIN EXCLUSIVE")  # fails at once when another server holds the folder
    connection.execute("COMMIT")
    (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
    if mode != "wal":
        raise DataFolderError(
            f"--data-dir {folder}: cannot switch {FILE_NAME} to WAL mode (it stays in {mode} "
            "mode); is the folder on a file system that supports it?"
        )
    connection.execute("PRAGMA synchronous = FULL")
    problems = [row for (row,) in connection.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise DataFolderError(
            f"--data-dir {folder}: {FILE_NAME} is damaged ({'; '.join(problems[:3])}). Restore "
            "the folder from a backup, or move it away to start with no sessions"
        )
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    if not tables:
        # executescript commits what is open before it runs, so the script opens the transaction.
        connection.executescript("BEGIN IMMEDIATE;" + _SCHEMA + _WRITERS_SCHEMA)
        connection.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        connection.execute("COMMIT")
        log.info("made a new data folder database %s", folder / FILE_NAME)
        return
    row = (
        connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if "meta" in tables
        else None
    )
    if row is None:
        raise DataFolderError(
            f"--data-dir {folder}: {FILE_NAME} is an SQLite database but not a median-server "
            "data file (it has no schema version); name another folder"
        )
    if row[0] == "1":  # version 1 differs only by the writers table
        connection.executescript("BEGIN IMMEDIATE;" + _WRITERS_SCHEMA)
        connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        connection.execute("COMMIT")
        log.info("upgraded %s to schema version 2 (the writers table)", folder / FILE_NAME)
        return
    if row[0] != str(SCHEMA_VERSION):
        raise DataFolderError(
            f"--data-dir {folder}: {FILE_NAME} has schema version {row[0]}, and this server "
            f"reads only version {SCHEMA_VERSION}; run the server version that wrote it"
        )
    # Write once now, so that a folder that can be read but not written fails at the start.
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")
    connection.execute("COMMIT")


def _describe_sqlite_error(folder: Path, error: sqlite3.Error) -> str:
    name = getattr(error, "sqlite_errorname", "")
    database = folder / FILE_NAME
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return (
            f"--data-dir {folder}: another median-server is using this folder ({database} is "
            "locked); stop it first, or give each server a folder of its own"
        )
    if name.startswith("SQLITE_NOTADB") or name.startswith("SQLITE_CORRUPT"):
        return (
            f"--data-dir {folder}: {database} is damaged or not a median-server data file "
            f"({error}). Restore the folder from a backup, or move the file away to start with "
            "no sessions"
        )
    if name.startswith("SQLITE_READONLY") or name.startswith("SQLITE_CANTOPEN"):
        return (
            f"--data-dir {folder}: cannot open {database} for writing ({error}); give the "
            "server's user read and write access to the folder and its files"
        )
    return f"--data-dir {folder}: cannot use {database} ({error})"
