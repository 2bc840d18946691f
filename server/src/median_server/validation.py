"""Checks of request fields that do not need the session store: ids and numbers."""

from __future__ import annotations

import math
import re

import numpy as np

from median_server.errors import FieldViolation, InvalidArgumentError, NonFiniteNumberError
from median_server.median_finder import Numbers

MAX_SESSION_ID_LENGTH = 128
MAX_REQUEST_ID_LENGTH = 64
_SESSION_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_REQUEST_ID = re.compile(r"[\x20-\x7e]{1,64}")
# `<writer>:<seq>`: the exactly-once convention of the client libraries (API.md, request_id).
_WRITER_REQUEST_ID = re.compile(r"(.+):([1-9][0-9]{0,17})")
_FEW = 16  # up to this many numbers, the finite check runs on Python floats


def check_session_id(session_id: str, field: str = "session_id") -> str:
    """Returns the id when it is 1 to 128 characters of ``[A-Za-z0-9._-]``."""
    if _SESSION_ID.fullmatch(session_id):
        return session_id
    if not session_id:
        problem = "is required"
    elif len(session_id) > MAX_SESSION_ID_LENGTH:
        problem = f"is {len(session_id)} characters long; at most {MAX_SESSION_ID_LENGTH} allowed"
    else:
        problem = f"{session_id!r} has characters outside [A-Za-z0-9._-]"
    raise InvalidArgumentError(f"{field} {problem}", (FieldViolation(field, f"{field} {problem}"),))


def check_request_id(request_id: str) -> None:
    """Accepts an empty id (none) or 1 to 64 printable ASCII characters."""
    if not request_id or _REQUEST_ID.fullmatch(request_id):
        return
    if len(request_id) > MAX_REQUEST_ID_LENGTH:
        problem = f"is {len(request_id)} characters long; at most {MAX_REQUEST_ID_LENGTH} allowed"
    else:
        problem = "must be printable ASCII characters only"
    raise InvalidArgumentError(
        f"request_id {problem}", (FieldViolation("request_id", f"request_id {problem}"),)
    )


def writer_sequence(request_id: str) -> tuple[str, int] | None:
    """Splits a request id of the form ``<writer>:<seq>`` into (writer, seq), else None.

    `seq` is a decimal number from 1 without leading zeros (at most 18 digits); the writer is
    everything before the last colon, at least one character. The client libraries number the
    requests of each writer (one ingest call) 1, 2, 3, ... in the order they send them, so the
    server can answer every request at or below a writer's highest applied seq as a retry
    without remembering each id.
    """
    match = _WRITER_REQUEST_ID.fullmatch(request_id)
    if match is None:
        return None
    return match[1], int(match[2])


def first_non_finite(numbers: Numbers) -> int | None:
    """The index of the first NaN or infinity, or None when every number is finite.

    One vectorised pass (numpy.isfinite); only a request that fails it is searched. A few
    numbers are checked as floats: numpy's per-call cost would outweigh the pass.
    """
    if len(numbers) <= _FEW:
        values = numbers.tolist()
        if all(map(math.isfinite, values)):
            return None
        return next(i for i, x in enumerate(values) if not math.isfinite(x))
    finite = np.isfinite(numbers)
    if finite.all():
        return None
    return int(np.argmin(finite))


def check_finite(numbers: Numbers, added_before: int) -> None:
    """Refuses a request that carries NaN, +Inf or -Inf, naming the first one's index."""
    index = first_non_finite(numbers)
    if index is None:
        return
    field = f"numbers[{index}]"
    bad = float(numbers[index])
    raise NonFiniteNumberError(
        f"{field} is {bad!r}; numbers must be finite (no NaN or infinity), so this "
        f"request was not applied; {added_before} numbers of this stream had been added before "
        "it. Remove the value and send the request again",
        (FieldViolation(field, f"{bad!r} is not a finite number"),),
    )
