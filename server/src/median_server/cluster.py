"""`ListSessions` across the shards of a cluster: one page at a time, one shard at a time.

A proxy in front of the shards (Envoy, hashing on `median-session-id`) sends every call of a
session to the shard that holds it, but a `ListSessions` call names no session, so it reaches any
one shard. That shard answers for the whole cluster, as a coordinator does in a scatter-gather
search (Elasticsearch's query-then-fetch, Vitess's scatter queries): its page token says which
shard the next page comes from, and it asks that shard for it over gRPC. Pages walk the shards
in the order of `--cluster-shards`, each shard's sessions ordered by id; an answer covers every
shard or the call fails: while a shard is down, listing past it fails `UNAVAILABLE` and says
which shard, so a partial list never looks like the whole one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import grpc
from median.v1 import median_pb2, median_pb2_grpc

from median_server import errors

LIST_SCOPE_HEADER = "median-list-scope"  # "shard": answer with this shard's sessions only
SHARD_SCOPE = "shard"
FORWARDED_HEADERS = ("authorization",)  # the caller's token: the shard asked checks it again
# A shard that was down is asked again within 2 s of its return (gRPC's default backoff grows
# to two minutes, during which every list that needs it would fail UNAVAILABLE).
PEER_CHANNEL = (("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 2000))


class ClusterLister:
    """Lists the sessions of every shard, one shard's page per call.

    `shards` are every shard's `HOST:PORT`, this server's included at position `shard` (from
    1). A cluster page token is `<shard>.<that shard's own token>`, base64url-encoded.
    """

    def __init__(self, shards: Sequence[str], shard: int) -> None:
        self.shards = tuple(shards)
        self.shard = shard
        self._stubs: dict[int, median_pb2_grpc.MedianServiceAsyncStub] = {}
        self._channels: list[grpc.aio.Channel] = []

    def decode_token(self, token: str) -> tuple[int, str]:
        """The shard (from 1) and that shard's own page token; (1, "") for the first page."""
        if not token:
            return 1, ""
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            shard_text, _, local = text.partition(".")
            shard = int(shard_text)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            shard = 0
        if not 1 <= shard <= len(self.shards):
            raise errors.InvalidArgumentError(
                "page_token was not issued by this cluster; pass the next_page_token of the "
                "previous ListSessions answer, or an empty token for the first page",
                (errors.FieldViolation("page_token", "not issued by this cluster"),),
            )
        return shard, local

    def encode_token(self, shard: int, local: str) -> str:
        """The cluster token of a page: the next of `shard` (from 1), or the first of the next
        shard when `local` is empty; "" after the last shard."""
        if not local:
            shard, local = shard + 1, ""
            if shard > len(self.shards):
                return ""
        raw = f"{shard}.{local}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    async def remote_page(
        self,
        shard: int,
        page_size: int,
        local_token: str,
        metadata: Sequence[tuple[str, Any]],
        deadline: float | None,
    ) -> median_pb2.ListSessionsResponse:
        """One page of another shard's own sessions; ShardUnavailableError if it is down."""
        forwarded = tuple((key, value) for key, value in metadata if key in FORWARDED_HEADERS)
        request = median_pb2.ListSessionsRequest(page_size=page_size, page_token=local_token)
        try:
            response: median_pb2.ListSessionsResponse = await self._stub(shard).ListSessions(
                request,
                metadata=(*forwarded, (LIST_SCOPE_HEADER, SHARD_SCOPE)),
                timeout=deadline,  # seconds left of the caller's deadline
                wait_for_ready=False,
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.INVALID_ARGUMENT:  # a page token that shard did not issue
                raise errors.InvalidArgumentError(f"{error.details()} (shard {shard})") from None
            if code == grpc.StatusCode.UNAUTHENTICATED:  # its token file differs from ours
                raise errors.UnauthenticatedError(
                    "TOKEN_UNKNOWN", f"shard {shard}: {error.details()}"
                ) from None
            raise errors.ShardUnavailableError(shard, self.shards[shard - 1], code.name) from None
        return response

    def _stub(self, shard: int) -> median_pb2_grpc.MedianServiceAsyncStub:
        if shard not in self._stubs:
            channel = grpc.aio.insecure_channel(self.shards[shard - 1], options=PEER_CHANNEL)
            self._channels.append(channel)
            self._stubs[shard] = median_pb2_grpc.MedianServiceStub(channel)
        return self._stubs[shard]

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(None)
