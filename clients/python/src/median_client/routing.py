"""The routing key: the session id chosen on the client and sent as `median-session-id`."""

from __future__ import annotations

import secrets

SESSION_ID_HEADER = "median-session-id"


def new_session_id() -> str:
    """A fresh, unguessable session id: 128 random bits, base64url without padding (22 chars)."""
    return secrets.token_urlsafe(16)


def routing_metadata(session_id: str) -> tuple[tuple[str, str]]:
    """The request metadata that names the session, so a proxy can route on it."""
    return ((SESSION_ID_HEADER, session_id),)
