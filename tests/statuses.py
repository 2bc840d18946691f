"""Reading the `google.rpc` details that the server puts in an error's trailers."""

from __future__ import annotations

from typing import Any

from google.protobuf import message
from google.rpc import error_details_pb2, status_pb2


def details(error: Any) -> list[message.Message]:
    """The google.rpc details carried in the trailers of a failed call (blocking or asyncio)."""
    trailers: Any = error.trailing_metadata() or ()
    for key, value in trailers:
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            unpacked: list[message.Message] = []
            for any_detail in status.details:
                for kind in (
                    error_details_pb2.BadRequest,
                    error_details_pb2.QuotaFailure,
                    error_details_pb2.ErrorInfo,
                ):
                    if any_detail.Is(kind.DESCRIPTOR):
                        detail = kind()
                        any_detail.Unpack(detail)
                        unpacked.append(detail)
            return unpacked
    return []
