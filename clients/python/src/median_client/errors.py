"""The one exception the client raises for a failed call, and the one place that makes it.

The server puts `google.rpc` details (`BadRequest`, `QuotaFailure`, `ErrorInfo`) into a
`google.rpc.Status` in the `grpc-status-details-bin` trailer, the standard place of gRPC's
richer error model (https://grpc.io/docs/guides/error/); `MedianError` decodes them with the
`google.rpc` messages of googleapis-common-protos, for the blocking and the asyncio client alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """A `google.rpc.BadRequest` field violation: which request field was wrong, and how.

    `field` names it as the server does, e.g. `numbers[3]` or `session_id`.
    """

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class QuotaViolation:
    """A `google.rpc.QuotaFailure` violation: which limit (`subject`, e.g. a flag name), and how."""

    subject: str
    description: str


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A `google.rpc.ErrorInfo`: a machine-readable `reason` within a `domain`, with metadata."""

    reason: str
    domain: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class MedianError(Exception):
    """A call to the median service failed: its gRPC status code, the server's message, and the
    decoded `google.rpc` details.

    `code` is a `grpc.StatusCode`; `details` (also `message`) the status message;
    `field_violations`, `quota_violations` and `error_info` the details the server attached
    (empty or None when it attached none). `str(error)` is `CODE_NAME: message`, e.g.
    `NOT_FOUND: session "x" does not exist`.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        *,
        field_violations: tuple[FieldViolation, ...] = (),
        quota_violations: tuple[QuotaViolation, ...] = (),
        error_info: ErrorInfo | None = None,
    ) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details
        self.field_violations = field_violations
        self.quota_violations = quota_violations
        self.error_info = error_info

    @property
    def message(self) -> str:
        """The status message (the same as `details`)."""
        return self.details

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}"

    def detail_lines(self) -> list[str]:
        """One line per detail, as the command-line clients print them:
        `BadRequest <field>: <description>`, `QuotaFailure <subject>: <description>`,
        `ErrorInfo <reason> <domain>`."""
        lines = [f"BadRequest {v.field}: {v.description}" for v in self.field_violations]
        lines += [f"QuotaFailure {v.subject}: {v.description}" for v in self.quota_violations]
        if self.error_info is not None:
            lines.append(f"ErrorInfo {self.error_info.reason} {self.error_info.domain}")
        return lines

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> MedianError:
        """The error of a failed call (blocking or asyncio), with its details decoded."""
        code: grpc.StatusCode = error.code()
        details: str = error.details() or ""
        # A tuple of (key, value) in the blocking API, a grpc.aio.Metadata in asyncio's.
        trailers: Iterable[tuple[str, Any]] = error.trailing_metadata() or ()  # type: ignore[assignment]
        fields: list[FieldViolation] = []
        quotas: list[QuotaViolation] = []
        info: ErrorInfo | None = None
        for key, value in trailers:
            if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                bad_request = error_details_pb2.BadRequest()
                quota_failure = error_details_pb2.QuotaFailure()
                error_info = error_details_pb2.ErrorInfo()
                if detail.Unpack(bad_request):
                    fields += [
                        FieldViolation(v.field, v.description) for v in bad_request.field_violations
                    ]
                elif detail.Unpack(quota_failure):
                    quotas += [
                        QuotaViolation(v.subject, v.description) for v in quota_failure.violations
                    ]
                elif detail.Unpack(error_info):
                    info = ErrorInfo(
                        error_info.reason, error_info.domain, dict(error_info.metadata)
                    )
        return cls(
            code,
            details,
            field_violations=tuple(fields),
            quota_violations=tuple(quotas),
            error_info=info,
        )


@contextmanager
def raising_median_error() -> Iterator[None]:
    """Turns any `grpc.RpcError` raised in the block (sync or asyncio) into a `MedianError`."""
    try:
        yield
    except grpc.RpcError as error:
        raise MedianError.from_rpc_error(error) from error
