"""Reads the command-line client's input: whitespace-separated decimal numbers, checked strictly."""

from __future__ import annotations

import math
import re

# Exactly the tokens the client contract allows; float() alone would also take "inf", "1_0", ...
DECIMAL = re.compile(rb"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
SPECIAL = {b"NaN": math.nan, b"Infinity": math.inf, b"-Infinity": -math.inf}


class BadTokenError(ValueError):
    """A token of the input is not a number."""

    def __init__(self, token: bytes) -> None:
        self.token = token.decode("utf-8", errors="backslashreplace")
        super().__init__(f'"{self.token}" is not a number')


def parse_numbers(data: bytes) -> list[float]:
    """The numbers in `data`, split on ASCII whitespace, each the correctly rounded double.

    `NaN`, `Infinity` and `-Infinity` are kept (the server is the one that refuses them).
    Raises `BadTokenError` for the first token that is neither.
    """
    numbers: list[float] = []
    for token in data.split():
        special = SPECIAL.get(token)
        if special is not None:
            numbers.append(special)
        elif DECIMAL.fullmatch(token):
            numbers.append(float(token))
        else:
            raise BadTokenError(token)
    return numbers
