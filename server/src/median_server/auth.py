"""Bearer tokens: the token file, looking a token up in constant time, and the caller's tenant.

The token file (`--auth-tokens`) holds one `<token> <tenant>` pair a line; blank lines and `#`
comments are allowed, several tokens may name one tenant, and a token may appear only once.
Nothing here ever puts a token into a message or a log line: errors name the file and the line.

A call proves who it is with the metadata `authorization: Bearer <token>`. The service's
interceptor asks `Authenticator.tenant_of` for the caller's tenant and sets it for the handler
with `set_tenant`; the servicer reads it with `current_tenant` and gives it to the session store,
which keeps each tenant's sessions apart. Without a token file every caller is tenant "".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from median_server.errors import UnauthenticatedError

log = logging.getLogger(__name__)

AUTHORIZATION = "authorization"
MIN_TOKEN_LENGTH = 16
# RFC 6750's b64token: what a bearer token may hold. Hex, base64 and base64url tokens fit.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_TENANT = re.compile(r"[A-Za-z0-9._-]{1,128}")
_TOKEN_RULE = (
    f"a token is {MIN_TOKEN_LENGTH} or more characters of A-Z a-z 0-9 - . _ ~ + / "
    "(then optional = padding); `openssl rand -hex 32` makes a good one"
)

_tenant: ContextVar[str] = ContextVar("median_tenant", default="")


def current_tenant() -> str:
    """The tenant of the call being handled ("" when the server takes no tokens)."""
    return _tenant.get()


def set_tenant(tenant: str) -> None:
    """Makes `tenant` the current tenant of this task (each gRPC call runs in a task of its own)."""
    _tenant.set(tenant)


class TokenFileError(Exception):
    """The token file cannot be used. The message names the file and line, never a token."""


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


@dataclass(frozen=True)
class TokenTable:
    """Tokens (kept only as SHA-256 digests) and the tenant each one names."""

    entries: tuple[tuple[bytes, str], ...]

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def tenants(self) -> frozenset[str]:
        return frozenset(tenant for _, tenant in self.entries)

    def tenant_for(self, token: str) -> str | None:
        """The tenant of `token`, or None; the time taken does not depend on the token's value.

        The presented token is hashed once, and its digest is compared with `hmac.compare_digest`
        to every entry, without stopping at a match: the work is the same for every token, known
        or not, and depends only on how many entries the table has (and on the length of the
        presented token, which its sender knows anyway).
        """
        presented = _digest(token.encode("utf-8", errors="surrogateescape"))
        found: str | None = None
        for digest, tenant in self.entries:
            if hmac.compare_digest(presented, digest):
                found = tenant
        return found


def parse_token_file(data: bytes, source: str) -> TokenTable:
    """Reads the `<token> <tenant>` lines of `data`; `source` names the file in errors."""
    entries: list[tuple[bytes, str]] = []
    first_line: dict[bytes, int] = {}
    for number, raw in enumerate(data.splitlines(), start=1):
        where = f"{source}:{number}"
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            raise TokenFileError(
                f"{where}: has characters outside ASCII; a line is `<token> <tenant>`"
            ) from None
        fields = line.split("#", 1)[0].split()  # "#" can be in neither a token nor a tenant
        if not fields:
            continue
        if len(fields) != 2:
            raise TokenFileError(
                f"{where}: has {len(fields)} fields; a line is `<token> <tenant>` (two fields "
                "separated by spaces), a blank line or a # comment"
            )
        token, tenant = fields
        if len(token) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
            problem = (
                "is too short"
                if len(token) < MIN_TOKEN_LENGTH
                else "has a character it cannot hold"
            )
            raise TokenFileError(f"{where}: the token (first field) {problem}; {_TOKEN_RULE}")
        if not _TENANT.fullmatch(tenant):
            raise TokenFileError(
                f"{where}: the tenant (second field) must be 1 to 128 characters of "
                "A-Z a-z 0-9 . _ -"
            )
        digest = _digest(token.encode("ascii"))
        if digest in first_line:
            raise TokenFileError(
                f"{where}: repeats the token of line {first_line[digest]}; a token may name "
                "only one tenant"
            )
        first_line[digest] = number
        entries.append((digest, tenant))
    if not entries:
        raise TokenFileError(
            f"{source}: holds no tokens, so every call would be refused; add lines of "
            "`<token> <tenant>`"
        )
    return TokenTable(tuple(entries))


def load_token_file(path: str | Path) -> TokenTable:
    """Reads and checks the token file at `path`; raises TokenFileError saying what is wrong."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise TokenFileError(f"cannot read the token file {path}: {reason}") from None
    return parse_token_file(data, str(path))


def _bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    values = [value for key, value in metadata if key == AUTHORIZATION]
    if not values:
        raise UnauthenticatedError(
            "TOKEN_MISSING",
            "this server needs a bearer token: send the metadata `authorization: Bearer "
            "<token>` (median-client: --token, or the MEDIAN_TOKEN environment variable)",
        )
    if len(values) > 1:
        raise UnauthenticatedError(
            "TOKEN_MALFORMED",
            f"the call has {len(values)} authorization metadata entries; send exactly one",
        )
    value = values[0]
    scheme, _, token = (value if isinstance(value, str) else "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthenticatedError(
            "TOKEN_MALFORMED",
            "the authorization metadata must read `Bearer <token>` (the word Bearer, a "
            "space, then the token)",
        )
    return token


class Authenticator:
    """The token table of one token file, re-read on demand (SIGHUP)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.table = load_token_file(self.path)

    def describe(self) -> str:
        """A log-friendly summary of the table: counts and file, no tokens."""
        tokens, tenants = len(self.table), len(self.table.tenants)
        return (
            f"{tokens} token{'s' * (tokens != 1)} for {tenants} tenant{'s' * (tenants != 1)} "
            f"from {self.path}"
        )

    def reload(self) -> bool:
        """Re-reads the file; keeps the old table (and logs why) if the new file is unusable."""
        try:
            table = load_token_file(self.path)
        except TokenFileError as error:
            log.error("%s; still using the %d tokens read before", error, len(self.table))
            return False
        self.table = table
        log.info("re-read the token file: %s", self.describe())
        return True

    def tenant_of(self, metadata: Iterable[tuple[str, str | bytes]]) -> str:
        """The tenant that the call's bearer token names; UnauthenticatedError if none does."""
        tenant = self.table.tenant_for(_bearer_token(metadata))
        if tenant is None:
            raise UnauthenticatedError(
                "TOKEN_UNKNOWN",
                "the bearer token is not valid on this server; check the token you were "
                "given, or ask the server's operator for a new one",
            )
        return tenant
