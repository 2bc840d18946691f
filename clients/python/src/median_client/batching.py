"""Lazily cuts numbers into batches, from plain or asynchronous iterables."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TypeVar

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
