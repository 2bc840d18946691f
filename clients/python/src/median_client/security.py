"""Who the client is and how it connects: TLS settings and the bearer token.

Over TLS the token travels as gRPC call credentials (`access_token_call_credentials`), which
gRPC attaches to every call and never sends in plaintext. gRPC refuses call credentials on a
plaintext channel, so there, and on a channel the caller opened, the client puts the
`authorization: Bearer <token>` metadata on each call itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc

AUTHORIZATION = "authorization"
# A header value: printable ASCII without spaces. The server's tokens are narrower still.
_TOKEN = re.compile(r"[\x21-\x7e]+")

Metadata = tuple[tuple[str, str], ...]
ChannelT = TypeVar("ChannelT")


@dataclass(frozen=True)
class Security:
    """The credentials of a channel the client opens (None: plaintext) and each call's metadata."""

    channel_credentials: grpc.ChannelCredentials | None
    call_metadata: Metadata


def check_token(token: str) -> str:
    """Returns `token` if it can travel as a header value; the error never shows the token."""
    if not _TOKEN.fullmatch(token):
        raise ValueError(
            "the token must be one or more printable ASCII characters without spaces "
            "(check for a stray newline or quote around it)"
        )
    return token


def tls_credentials(
    credentials: grpc.ChannelCredentials | None,
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials from either `credentials` or the PEM settings; None means plaintext."""
    pem = (root_certificates, certificate_chain, private_key)
    if credentials is not None and any(setting is not None for setting in pem):
        raise ValueError(
            "give either credentials or root_certificates / certificate_chain / private_key, "
            "not both"
        )
    if (certificate_chain is None) != (private_key is None):
        raise ValueError(
            "certificate_chain and private_key go together: the client certificate and its key"
        )
    if credentials is not None:
        return credentials
    if any(setting is not None for setting in pem):
        return grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
    return None


def security(
    token: str | None, tls: grpc.ChannelCredentials | None, *, opens_channel: bool
) -> Security:
    """How to send `token`: as call credentials of a TLS channel the client opens, else as
    metadata on every call."""
    if token is None:
        return Security(tls, ())
    check_token(token)
    if opens_channel and tls is not None:
        call_credentials = grpc.access_token_call_credentials(token)
        return Security(grpc.composite_channel_credentials(tls, call_credentials), ())
    return Security(tls, ((AUTHORIZATION, f"Bearer {token}"),))


@dataclass(frozen=True)
class Connection(Generic[ChannelT]):
    """The channel a client calls over, whether the client opened it (and so closes it), and
    the metadata it puts on each call."""

    channel: ChannelT
    owns_channel: bool
    call_metadata: Metadata


def connect(
    target: str | None,
    channel: ChannelT | None,
    *,
    insecure_channel: Callable[[str], ChannelT],
    secure_channel: Callable[[str, grpc.ChannelCredentials], ChannelT],
    credentials: grpc.ChannelCredentials | None,
    root_certificates: bytes | None,
    certificate_chain: bytes | None,
    private_key: bytes | None,
    token: str | None,
) -> Connection[ChannelT]:
    """The connection of a client given a `target` or an open `channel`, shared by the blocking
    and the asyncio client: the two differ only in how they open a channel."""
    tls = tls_credentials(credentials, root_certificates, certificate_chain, private_key)
    plan = security(token, tls, opens_channel=channel is None)
    if channel is None:
        if target is None:
            raise ValueError("give a target (host:port) or a channel")
        if plan.channel_credentials is None:
            return Connection(insecure_channel(target), True, plan.call_metadata)
        return Connection(
            secure_channel(target, plan.channel_credentials), True, plan.call_metadata
        )
    if target is not None or tls is not None:
        raise ValueError("give either a channel or a target (with TLS settings), not both")
    return Connection(channel, False, plan.call_metadata)
