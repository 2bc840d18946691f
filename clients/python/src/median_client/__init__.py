"""A typed Python client for the running-median gRPC service `median.v1.MedianService`.

`MedianClient` (blocking) and `AsyncMedianClient` (asyncio) wrap the generated stubs: they send
the session id as the `median-session-id` routing header on every call, set a deadline on every
call, stream numbers lazily in batches, answer with small frozen dataclasses, and raise every gRPC
failure as one exception type, `MedianError`.
"""

from median_client.aio_client import AsyncMedianClient
from median_client.client import MedianClient
from median_client.errors import MedianError
from median_client.results import AddResult, MedianResult, RunningResult, SessionSummary
from median_client.routing import SESSION_ID_HEADER, new_session_id

__all__ = [
    "SESSION_ID_HEADER",
    "AddResult",
    "AsyncMedianClient",
    "MedianClient",
    "MedianError",
    "MedianResult",
    "RunningResult",
    "SessionSummary",
    "new_session_id",
]
