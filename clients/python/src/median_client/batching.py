"""Lazily cuts numbers into batches and turns batches into the streams' request messages."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from typing import TypeVar

from median.v1 import median_pb2

DEFAULT_BATCH_SIZE = 1000

T = TypeVar("T")


def check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")


def batched(numbers: Iterable[float], batch_size: int) -> Iterator[list[float]]:
    """Yields the numbers in order in lists of at most `batch_size`; one empty list for none.

    The empty batch makes a stream of no numbers still name its session, so that the server
    checks the session exists and answers with its count.
    """
    batch: list[float] = []
    yielded = False
    for number in numbers:
        batch.append(number)
        if len(batch) == batch_size:
            yield batch
            yielded = True
            batch = []
    if batch or not yielded:
        yield batch


async def abatched(
    numbers: Iterable[float] | AsyncIterable[float], batch_size: int
) -> AsyncIterator[list[float]]:
    """`batched` for a plain or an asynchronous iterable."""
    batch: list[float] = []
    yielded = False
    async for number in as_async_iterable(numbers):
        batch.append(number)
        if len(batch) == batch_size:
            yield batch
            yielded = True
            batch = []
    if batch or not yielded:
        yield batch


async def as_async_iterable(items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    """The items of a plain or an asynchronous iterable, as an asynchronous iterator."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def request_id(prefix: str | None, index: int) -> str:
    """`<prefix>-<index>` for the index-th request of a stream, or "" (none) without a prefix."""
    return "" if prefix is None else f"{prefix}-{index}"


Request = TypeVar("Request", median_pb2.AddNumbersRequest, median_pb2.RunningMedianRequest)


def stream_requests(
    message: type[Request],
    session_id: str,
    batches: Iterable[Sequence[float]],
    request_id_prefix: str | None,
) -> Iterator[Request]:
    """One request message per batch, numbered for request ids (AddNumbers or RunningMedian)."""
    for index, batch in enumerate(batches):
        yield message(
            session_id=session_id, numbers=batch, request_id=request_id(request_id_prefix, index)
        )


async def astream_requests(
    message: type[Request],
    session_id: str,
    batches: Iterable[Sequence[float]] | AsyncIterable[Sequence[float]],
    request_id_prefix: str | None,
) -> AsyncIterator[Request]:
    """`stream_requests` for batches that may come from an async iterable."""
    index = 0
    async for batch in as_async_iterable(batches):
        yield message(
            session_id=session_id, numbers=batch, request_id=request_id(request_id_prefix, index)
        )
        index += 1
