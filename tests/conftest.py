"""Fixtures: a real server in the test's event loop on a free loopback port, with a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from median.v1 import median_pb2_grpc
from median_server.config import Config
from median_server.server import MedianServer, start_server

from tests.clock import FakeClock


@dataclass
class Service:
    """A started server and an asyncio stub talking to it over loopback."""

    server: MedianServer
    stub: median_pb2_grpc.MedianServiceAsyncStub
    channel: grpc.aio.Channel
    clock: FakeClock

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"


ServiceFactory = Callable[..., Awaitable[Service]]


@pytest.fixture
async def make_service() -> AsyncIterator[ServiceFactory]:
    """Starts servers with the given Config fields (port 0 unless told) and clock (a new fake
    one unless told), and stops them after."""
    started: list[Service] = []

    async def factory(clock: FakeClock | None = None, **settings: Any) -> Service:
        clock = clock or FakeClock()
        server = await start_server(Config(**{"port": 0, **settings}), clock)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        service = Service(server, median_pb2_grpc.MedianServiceStub(channel), channel, clock)
        started.append(service)
        return service

    yield factory
    for service in started:
        await service.channel.close(None)
        await service.server.stop_now()


@pytest.fixture
async def service(make_service: ServiceFactory) -> Service:
    """A server with the default settings."""
    return await make_service()
