"""Numbers typed on the command line, read by the one rule in app.rules.numbers."""

from __future__ import annotations

import argparse

from app.rules.formatting import one_line
from app.rules.numbers import decimal_number_or_none, whole_number_or_none


def whole_number(text: str) -> int:
    """A whole number of ASCII digits (0 or more); argparse names the option on refusal."""
    number = whole_number_or_none(text)
    if number is None:
        raise argparse.ArgumentTypeError(
            f"must be a whole number such as 5, not {one_line(text, 40)!r}"
        )
    return number


def seconds(text: str) -> float:
    """A number of seconds in plain decimal digits, such as 30 or 2.5."""
    number = decimal_number_or_none(text)
    if number is None:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds such as 30 or 2.5, not {one_line(text, 40)!r}"
        )
    return number
