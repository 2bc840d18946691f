"""The wire reader against protobuf's own parser, on generated messages of every encoding."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import example, given, settings
from hypothesis import strategies as st
from median.v1 import median_pb2
from median_server.wire import read_numbers_request

MESSAGES = (median_pb2.AddNumbersRequest, median_pb2.RunningMedianRequest)


def varint(value: int, extra: int = 0) -> bytes:
    """A base-128 varint; ``extra`` > 0 pads it with that many redundant bytes (overlong)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value or extra:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
        if not value:
            while extra > 1:
                out.append(0x80)
                extra -= 1
            out.append(0)
            return bytes(out)


def tag(field: int, wire_type: int, extra: int = 0) -> bytes:
    return varint(field << 3 | wire_type, extra)


def doubles(numbers: list[float]) -> bytes:
    return struct.pack(f"<{len(numbers)}d", *numbers)


any_double = st.floats(allow_nan=True, allow_infinity=True)
numbers = st.lists(any_double, max_size=40)
text = st.text(max_size=20)
unknown_field = st.integers(4, (1 << 29) - 1) | st.sampled_from([4, 15, 16, 2047, 2048])


@st.composite
def group(draw: st.DrawFn, field: int, depth: int = 0) -> bytes:
    inner = draw(st.lists(unknown_value(depth + 1), max_size=3)) if depth < 3 else []
    return tag(field, 3) + b"".join(inner) + tag(field, 4)


@st.composite
def unknown_value(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A field the message does not know, or a known number with another wire type."""
    field = draw(unknown_field | st.sampled_from([1, 2, 3]))
    wire_types = [0, 1, 2, 3, 5]
    if field in (1, 3):
        wire_types = [0, 1, 3, 5]
    if field == 2:
        wire_types = [0, 3, 5]
    wire_type = draw(st.sampled_from(wire_types))
    if wire_type == 0:
        return tag(field, 0) + varint(draw(st.integers(0, (1 << 64) - 1)))
    if wire_type == 1:
        return tag(field, 1) + draw(st.binary(min_size=8, max_size=8))
    if wire_type == 5:
        return tag(field, 5) + draw(st.binary(min_size=4, max_size=4))
    if wire_type == 2:
        payload = draw(st.binary(max_size=30))
        return tag(field, 2) + varint(len(payload)) + payload
    return draw(group(field, depth))


@st.composite
def field(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["session", "request", "packed", "unpacked", "unknown"]))
    if kind in ("session", "request"):
        value = draw(text).encode()
        return tag(1 if kind == "session" else 3, 2) + varint(len(value)) + value
    if kind == "packed":
        payload = doubles(draw(numbers))
        return tag(2, 2) + varint(len(payload), draw(st.sampled_from([0, 0, 0, 2]))) + payload
    if kind == "unpacked":
        extra = draw(st.sampled_from([0, 0, 0, 1, 4]))  # now and then an overlong tag
        return b"".join(tag(2, 1, extra) + doubles([x]) for x in draw(numbers))
    return draw(unknown_value())


messages = st.lists(field(), max_size=8).map(b"".join)


def parsed_by_protobuf(raw: bytes) -> tuple[str, bytes, str] | None:
    """What protobuf makes of the bytes (as both message types), or None if it refuses."""
    results: set[tuple[str, bytes, str] | None] = set()
    for message_type in MESSAGES:
        try:
            message = message_type.FromString(raw)
        except DecodeError:
            results.add(None)
            continue
        packed = np.array(list(message.numbers), dtype=np.float64).tobytes()
        results.add((message.session_id, packed, message.request_id))
    assert len(results) == 1, "both messages have the same fields"
    return results.pop()


def parsed_by_us(raw: bytes) -> tuple[str, bytes, str] | None:
    try:
        request = read_numbers_request(raw)
    except DecodeError:
        return None
    assert request.numbers.dtype == np.float64
    return request.session_id, request.numbers.tobytes(), request.request_id


@settings(max_examples=600, deadline=None)
@given(raw=messages)
def test_every_encoding_reads_as_protobuf_reads_it(raw: bytes) -> None:
    expected = parsed_by_protobuf(raw)
    assert expected is not None, "the generated message is valid"
    assert parsed_by_us(raw) == expected


@settings(max_examples=400, deadline=None)
@given(raw=messages, data=st.data())
@example(raw=tag(2, 2) + varint(16) + doubles([1.0, 2.0]), data=None)
def test_damaged_messages_are_refused_exactly_when_protobuf_refuses_them(
    raw: bytes, data: st.DataObject | None
) -> None:
    if data is None:  # the explicit example: a packed run cut short inside a number
        damaged = raw[:-3]
    else:
        damage = data.draw(st.sampled_from(["cut", "byte", "insert"]))
        at = data.draw(st.integers(0, len(raw)))
        if damage == "cut":
            damaged = raw[:at]
        elif damage == "byte":
            damaged = raw[:at] + bytes([data.draw(st.integers(0, 255))]) + raw[at + 1 :]
        else:
            damaged = raw[:at] + data.draw(st.binary(min_size=1, max_size=3)) + raw[at:]
    assert parsed_by_us(damaged) == parsed_by_protobuf(damaged)


def test_a_serialized_request_reads_back_with_its_numbers_as_one_array() -> None:
    sent = median_pb2.AddNumbersRequest(
        session_id="s-1", numbers=[1.5, -0.0, 5e-324, -1.7976931348623157e308], request_id="r"
    )
    request = read_numbers_request(sent.SerializeToString())
    assert (request.session_id, request.request_id) == ("s-1", "r")
    assert request.numbers.tobytes() == doubles([1.5, -0.0, 5e-324, -1.7976931348623157e308])


def test_several_runs_and_unpacked_entries_are_joined_in_order() -> None:
    raw = (
        tag(2, 2) + varint(16) + doubles([1.0, 2.0])
        + tag(2, 1) + doubles([3.0]) + tag(2, 1) + doubles([4.0])
        + tag(1, 2) + varint(1) + b"a"
        + tag(2, 2) + varint(8) + doubles([5.0])
    )  # fmt: skip
    request = read_numbers_request(raw)
    assert request.numbers.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert request.session_id == "a"


@pytest.mark.parametrize(
    "raw",
    [
        tag(2, 2) + varint(12) + b"\0" * 12,  # a packed run that is not whole doubles
        tag(1, 2) + varint(2) + b"\xff\xfe",  # a session id that is not UTF-8
        tag(2, 1) + b"\0" * 7,  # a number cut short
        tag(0, 0) + varint(1),  # field number 0
        tag(9, 6),  # wire type 6
        tag(9, 4),  # an end-group tag with no group
    ],
)
def test_malformed_messages_raise_decode_error(raw: bytes) -> None:
    assert parsed_by_protobuf(raw) is None
    with pytest.raises(DecodeError):
        read_numbers_request(raw)


# Pieces of the wire format, glued in any order: tags of every kind (overlong too), varints
# that run on, lengths, numbers, group starts and ends.
PIECES = [
    tag(2, 1), tag(2, 2), tag(1, 2), tag(3, 2), tag(7, 3), tag(7, 4), tag(8, 4), tag(2, 0),
    b"\x80" * 6, b"\xff" * 11, varint(8), varint(3), doubles([1.0]), doubles([float("nan")]),
    b"\x00", b"\x91\x00", b"\x91\x80\x80\x80\x80\x00", b"\xc2\x80",
    bytes([0x80, 0x80, 0x80, 0x80, 0x10]), bytes([0x91, 0x80, 0x80, 0x80, 0x0F]),
]  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(raw=st.lists(st.sampled_from(PIECES) | st.binary(max_size=4), max_size=10).map(b"".join))
def test_any_glued_wire_pieces_read_as_protobuf_reads_them(raw: bytes) -> None:
    assert parsed_by_us(raw) == parsed_by_protobuf(raw)
