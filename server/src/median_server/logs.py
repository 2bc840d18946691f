"""The server's log output (`--log-format`): text for people, or one JSON object per line.

A JSON line carries `time` (UTC, ISO 8601), `level`, `logger` and `message`, then the fields a
call site passed with `extra=` (for example `method` and `code` on a refused call), then
`exception` with the traceback when there is one. Nothing here adds numbers or credentials:
the call sites choose what they log.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any, TextIO

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats each record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value)
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str, log_format: str, stream: TextIO = sys.stderr) -> None:
    """Sends every log record to `stream`; the server's own at `level`, libraries' from info."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    numeric = getattr(logging, level.upper())
    # Like basicConfig, leaves a root logger that already has handlers alone.
    logging.basicConfig(
        level=max(numeric, logging.INFO),  # the libraries' debug output is noise to users
        handlers=[handler],
    )
    logging.getLogger("median_server").setLevel(numeric)
