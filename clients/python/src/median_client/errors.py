"""The one exception the client raises for a failed call, and the one place that makes it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc


class MedianError(Exception):
    """A call to the median service failed: its gRPC status code and the server's message.

    `str(error)` is `CODE_NAME: message`, e.g. `NOT_FOUND: session "x" does not exist`.
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}"


@contextmanager
def raising_median_error() -> Iterator[None]:
    """Turns any `grpc.RpcError` raised in the block (sync or asyncio) into a `MedianError`."""
    try:
        yield
    except grpc.RpcError as error:
        raise MedianError(error.code(), error.details() or "") from error
