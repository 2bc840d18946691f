"""`--log-format`: JSON lines that parse and carry their fields; each refused call logged once."""

from __future__ import annotations

import io
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from median.v1 import median_pb2, median_pb2_grpc
from median_server.logs import JsonFormatter, configure

from tests.servers import running_server
from tests.test_server_process import run_server_expecting_exit

Code = grpc.StatusCode
# The client's data, which no log line may show; the NaN makes the request refused.
PRIVATE_NUMBERS = [271828.182845, math.nan, 314159.265358, 161803.398874]
PRIVATE_DIGITS = ("271828", "314159", "161803")


def record(message: str, *args: object, **extra: Any) -> logging.LogRecord:
    entry = logging.LogRecord("median_server.test", logging.INFO, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


def test_json_line_has_time_level_logger_message_and_extra_fields() -> None:
    line = JsonFormatter().format(record("refused %s", "GetMedian", method="m", code="NOT_FOUND"))
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "INFO"
    assert entry["logger"] == "median_server.test"
    assert entry["message"] == "refused GetMedian"
    assert (entry["method"], entry["code"]) == ("m", "NOT_FOUND")
    assert entry["time"].endswith("+00:00")
    assert "args" not in entry
    assert "msg" not in entry


def test_json_line_keeps_a_traceback_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        entry = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = JsonFormatter().format(entry)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


def test_configure_json_writes_parseable_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    service_logger = logging.getLogger("median_server")
    monkeypatch.setattr(service_logger, "level", service_logger.level)
    stream = io.StringIO()
    configure("debug", "json", stream)
    logging.getLogger("median_server.test").debug("hello %s", "there", extra={"code": "OK"})
    logging.getLogger("some.library").debug("library noise")
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["hello there"]
    assert json.loads(lines[0])["code"] == "OK"


def test_a_bad_log_format_stops_the_server_naming_the_flag() -> None:
    status, stderr = run_server_expecting_exit("--log-format", "xml")
    assert status == 2
    assert "--log-format" in stderr
    assert "text, json" in stderr


def refused_calls(target: str) -> list[Code]:
    """Makes two refused calls: a NaN request after an accepted one, then an unknown session."""
    codes = []
    with grpc.insecure_channel(target) as channel:
        stub = median_pb2_grpc.MedianServiceStub(channel)
        stub.CreateSession(median_pb2.CreateSessionRequest(session_id="logged"))
        requests = [
            median_pb2.AddNumbersRequest(session_id="logged", numbers=[1.5]),
            median_pb2.AddNumbersRequest(numbers=PRIVATE_NUMBERS, request_id="retry-me"),
        ]
        for call in (
            lambda: stub.AddNumbers(iter(requests)),
            lambda: stub.GetMedian(median_pb2.GetMedianRequest(session_id="sentinel")),
        ):
            with pytest.raises(grpc.RpcError) as error:
                call()
            codes.append(error.value.code())
    return codes


def test_json_log_lines_parse_and_a_refused_call_is_logged_once() -> None:
    with running_server("--log-format", "json") as server:
        assert refused_calls(server.target) == [Code.INVALID_ARGUMENT, Code.NOT_FOUND]
        # Lines are written in order, so once the second refusal is in, the first one's are too.
        assert server.wait_for_log('"sentinel')
        entries = [json.loads(line) for line in server.log]

    assert {"time", "level", "logger", "message"} <= entries[0].keys()
    listening = [e for e in entries if "median-server listening on" in e["message"]]
    assert len(listening) == 1
    assert listening[0]["level"] == "INFO"
    about_nan = [e for e in entries if "AddNumbers" in e["message"]]
    assert len(about_nan) == 1
    (entry,) = about_nan
    assert entry["level"] == "INFO"
    assert entry["method"] == "/median.v1.MedianService/AddNumbers"
    assert entry["code"] == "INVALID_ARGUMENT"
    assert "numbers[1]" in entry["message"]
    sentinel = [e for e in entries if e.get("code") == "NOT_FOUND"]
    assert len(sentinel) == 1
    assert sentinel[0]["method"].endswith("/GetMedian")
    assert not [digits for digits in PRIVATE_DIGITS if digits in server.log_text()]


def test_text_log_names_the_code_of_a_refused_call_once() -> None:
    with running_server("--log-format", "text") as server:
        refused_calls(server.target)
        assert server.wait_for_log("sentinel")
        lines = [line for line in server.log if "refused" in line]
    assert len(lines) == 2
    assert "INFO" in lines[0]
    assert "AddNumbers: INVALID_ARGUMENT numbers[1] is nan" in lines[0]
    assert "GetMedian: NOT_FOUND" in lines[1]
    assert not [digits for digits in PRIVATE_DIGITS if digits in server.log_text()]


def test_a_refused_token_is_logged_once_by_code_and_never_shown(tmp_path: Path) -> None:
    known, presented = "logging-test-token-0123456789", "presented-but-unknown-0123456789"
    token_file = tmp_path / "tokens.txt"
    token_file.write_text(f"{known} tenant-a\n")
    with running_server("--log-format", "json", "--auth-tokens", str(token_file)) as server:
        with grpc.insecure_channel(server.target) as channel:
            stub = median_pb2_grpc.MedianServiceStub(channel)
            with pytest.raises(grpc.RpcError) as error:
                stub.CreateSession(
                    median_pb2.CreateSessionRequest(session_id="x"),
                    metadata=(("authorization", f"Bearer {presented}"),),
                )
            assert error.value.code() == Code.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError):
                stub.GetMedian(
                    median_pb2.GetMedianRequest(session_id="sentinel"),
                    metadata=(("authorization", f"Bearer {known}"),),
                )
        assert server.wait_for_log('"sentinel')
        entries = [json.loads(line) for line in server.log]
    refused = [e for e in entries if e.get("code") == "UNAUTHENTICATED"]
    assert len(refused) == 1
    assert refused[0]["method"] == "/median.v1.MedianService/CreateSession"
    assert presented not in server.log_text()
    assert known not in server.log_text()
