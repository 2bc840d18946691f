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
