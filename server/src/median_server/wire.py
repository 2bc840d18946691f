"""Reads AddNumbersRequest and RunningMedianRequest from their wire bytes, numbers as an array.

Why by hand: protobuf's Python API hands out a `repeated double` only as Python floats, one
object per number (about 55 ns each here, and 32 bytes of memory), and numpy has no protobuf
parser. The message is small and fixed (median/v1/median.proto):

    string session_id = 1;  repeated double numbers = 2;  string request_id = 3;

so this module walks its fields and turns each run of `numbers` into a float64 array without
a Python object per number: a packed run (wire type 2, the encoding every proto3 serializer
writes) with one `numpy.frombuffer`, and a run of unpacked entries (wire type 1, tag byte 0x11
and 8 bytes each) with one strided view. Several runs, in any mix, are joined in order. It
accepts what protobuf's own parser accepts and refuses what it refuses (the property tests
compare the two on generated messages): unknown fields of every wire type are skipped, a known
field with another wire type counts as unknown, the last `session_id` and `request_id` win,
strings must be UTF-8. The wire format is the one of
https://protobuf.dev/programming-guides/encoding/.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np
from google.protobuf.message import DecodeError

from median_server.median_finder import Numbers

_DOUBLES = np.dtype("<f8")
_NATIVE = sys.byteorder == "little"  # the wire's doubles are the machine's: no conversion
_BYTES = np.dtype(np.uint8)
_EMPTY: Numbers = np.empty(0, dtype=np.float64)
_UNPACKED_TAG = 0x11  # field 2, wire type 1: one double
_PACKED_TAG = 0x12  # field 2, wire type 2: a packed run of doubles
_RECORD = 9  # an unpacked entry: its tag byte and 8 bytes
_MAX_DEPTH = 100  # nested groups, as protobuf's parser allows


class NumbersRequest(NamedTuple):
    """An AddNumbersRequest or RunningMedianRequest, with `numbers` as a float64 array.

    ``numbers`` may be a read-only view of the received message's bytes; whoever keeps
    numbers copies them (the finder and the journal do).
    """

    session_id: str
    numbers: Numbers
    request_id: str


def read_numbers_request(raw: bytes) -> NumbersRequest:
    """Parses the wire bytes of an AddNumbersRequest or RunningMedianRequest.

    Raises google.protobuf.message.DecodeError, as protobuf's parser does, on bytes that are
    not such a message (a truncated field, a bad varint or wire type, a string that is not
    UTF-8, a packed run whose length is not a multiple of 8).
    """
    end = len(raw)
    pos = 0
    session_id = request_id = ""
    runs: list[Numbers] = []
    while pos < end:
        start = pos
        tag = raw[pos]
        if tag == _PACKED_TAG and pos + 1 < end and raw[pos + 1] < 0x80:
            # Inline, for small requests: a packed run of up to 15 numbers (a one-byte length).
            length = raw[pos + 1]
            pos += 2
            if length > end - pos:
                raise DecodeError("a length-delimited field runs past the end of the message")
            if length % 8:
                raise DecodeError(f"packed numbers of {length} bytes, not a multiple of 8")
            runs.append(np.frombuffer(raw, _DOUBLES, length // 8, pos))
            pos += length
            continue
        tag, pos = _tag(raw, pos, end)
        field, wire_type = tag >> 3, tag & 7
        if field == 2 and wire_type == 2:
            length, pos = _length(raw, pos, end)
            if length % 8:
                raise DecodeError(f"packed numbers of {length} bytes, not a multiple of 8")
            runs.append(np.frombuffer(raw, _DOUBLES, length // 8, pos))
            pos += length
        elif field == 2 and wire_type == 1:
            if pos - start == 1:  # the one-byte tag 0x11: read every entry that follows at once
                run, pos = _unpacked_run(raw, start, end)
                runs.append(run)
            else:
                if pos + 8 > end:
                    raise DecodeError("truncated number")
                runs.append(np.frombuffer(raw, _DOUBLES, 1, pos))
                pos += 8
        elif field in (1, 3) and wire_type == 2:
            length, pos = _length(raw, pos, end)
            value = _text(raw[pos : pos + length])  # each one must be UTF-8, not just the last
            if field == 1:
                session_id = value
            else:
                request_id = value
            pos += length
        else:
            pos = _skip(raw, pos, end, field, wire_type, 0)
    if not runs:
        numbers = _EMPTY
    elif len(runs) == 1:
        numbers = runs[0]
    else:
        numbers = np.concatenate(runs)
    if not _NATIVE:
        numbers = numbers.astype(np.float64)
    return NumbersRequest(session_id, numbers, request_id)


def _unpacked_run(raw: bytes, start: int, end: int) -> tuple[Numbers, int]:
    """Reads consecutive unpacked entries (0x11 + 8 bytes) from ``start``, at least one."""
    records = (end - start) // _RECORD
    if not records:
        raise DecodeError("truncated number")
    table = np.frombuffer(raw, _BYTES, records * _RECORD, start).reshape(records, _RECORD)
    tagged = table[:, 0] == _UNPACKED_TAG
    count = records if tagged.all() else int(np.argmin(tagged))
    numbers = table[:count, 1:].copy().view(_DOUBLES).reshape(count)
    return numbers, start + count * _RECORD


def _varint(raw: bytes, pos: int, end: int, most: int = 10) -> tuple[int, int]:
    """A base-128 varint of up to ``most`` bytes, and the position after it."""
    result = shift = 0
    limit = min(end, pos + most)
    while pos < limit:
        byte = raw[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise DecodeError("truncated or overlong varint")


def _tag(raw: bytes, pos: int, end: int) -> tuple[int, int]:
    """A field's tag: a varint of up to 5 bytes that fits in 32 bits, as protobuf requires."""
    if raw[pos] < 0x80:  # the common one-byte tag
        return raw[pos], pos + 1
    tag, after = _varint(raw, pos, end, 5)
    if tag >> 32:
        raise DecodeError("a tag does not fit in 32 bits")
    return tag, after


def _length(raw: bytes, pos: int, end: int) -> tuple[int, int]:
    length, pos = _varint(raw, pos, end, 5)
    if length > end - pos:
        raise DecodeError("a length-delimited field runs past the end of the message")
    return length, pos


def _skip(raw: bytes, pos: int, end: int, field: int, wire_type: int, depth: int) -> int:
    """Skips an unknown field's value; returns the position after it.

    Field number 0 is refused at the top level only: inside a group, protobuf's parser skips
    it like any other field, and so does this.
    """
    if field == 0 and depth == 0:
        raise DecodeError("invalid field number 0")
    if wire_type == 0:
        return _varint(raw, pos, end)[1]
    if wire_type in (1, 5):
        size = 8 if wire_type == 1 else 4
        if pos + size > end:
            raise DecodeError("truncated fixed-size field")
        return pos + size
    if wire_type == 2:
        length, pos = _length(raw, pos, end)
        return pos + length
    if wire_type == 3:  # a group: fields up to the end-group tag of the same number
        if depth >= _MAX_DEPTH:
            raise DecodeError("groups nested too deeply")
        while True:
            if pos >= end:
                raise DecodeError("a group has no end")
            tag, pos = _tag(raw, pos, end)
            inner, inner_type = tag >> 3, tag & 7
            if inner_type == 4:
                if inner != field:
                    raise DecodeError("a group ends with another field's end-group tag")
                return pos
            pos = _skip(raw, pos, end, inner, inner_type, depth + 1)
    raise DecodeError(f"invalid wire type {wire_type} for field {field}")


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise DecodeError("a string field is not valid UTF-8") from None
