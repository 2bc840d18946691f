"""Domain errors of the median service. The gRPC layer maps each kind to one status code."""

from __future__ import annotations

from dataclasses import dataclass


class MedianServiceError(Exception):
    """Base of every error that the service reports to its caller as such."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (``numbers[3]``) and what is wrong with it."""

    field: str
    description: str


class InvalidArgumentError(MedianServiceError):
    """The request is malformed; the same request will fail again."""

    def __init__(self, message: str, violations: tuple[FieldViolation, ...] = ()) -> None:
        super().__init__(message)
        self.violations = violations


class NonFiniteNumberError(InvalidArgumentError):
    """A request carried NaN or an infinity; kept apart so that metrics can count them."""


class SessionNotFoundError(MedianServiceError):
    """The session does not exist: never made, deleted, or expired."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f'session "{session_id}" does not exist (never created, deleted, or expired after '
            "its idle time-to-live); create it with CreateSession"
        )
        self.session_id = session_id


class SessionExistsError(MedianServiceError):
    """CreateSession named an id that is taken."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f'session "{session_id}" already exists; choose another id, or leave session_id '
            "empty to have the server choose one"
        )
        self.session_id = session_id


class EmptySessionError(MedianServiceError):
    """The median of a session with no numbers was asked for."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f'session "{session_id}" has no numbers yet, so it has no median; add numbers first'
        )
        self.session_id = session_id


class LimitExceededError(MedianServiceError):
    """Applying the request would pass one of the server's limits; nothing was applied."""

    def __init__(self, limit: str, value: int, message: str) -> None:
        super().__init__(message)
        self.limit = limit  # the flag that sets it, e.g. "max-sessions"
        self.value = value


class DrainingError(MedianServiceError):
    """The server is shutting down and takes no new calls."""

    def __init__(self) -> None:
        super().__init__(
            "the server is shutting down and takes no new calls; retry with backoff: another "
            "server, or this one once it is back, will answer"
        )


class UnauthenticatedError(MedianServiceError):
    """The call carries no bearer token, a malformed one, or one the server does not know."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # TOKEN_MISSING, TOKEN_MALFORMED or TOKEN_UNKNOWN


class StorageUnavailableError(MedianServiceError):
    """A change could not be committed to the data folder (--data-dir); it was not applied."""


class ShardUnavailableError(MedianServiceError):
    """Another shard of the cluster, needed for the answer, did not answer; nothing was."""

    def __init__(self, shard: int, address: str, detail: str) -> None:
        super().__init__(
            f"shard {shard} ({address}) did not answer ({detail}), so the list of sessions "
            "cannot be completed; call again with the same page_token once it is back (start "
            "the listing over if that shard restarted: its page tokens are its process's own)"
        )
