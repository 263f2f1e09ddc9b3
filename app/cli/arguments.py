"""Numbers typed on the command line, read strictly.

Python's own int() and float() take more than a person means: Arabic-Indic
digits, surrounding spaces, "nan", "inf" and "1e400". An option takes plain
ASCII digits only, so what is echoed back is what was typed.
"""

from __future__ import annotations

import argparse
import re

from app.rules.formatting import one_line

WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
DECIMAL_NUMBER = re.compile(r"[0-9]{1,18}(\.[0-9]{1,9})?")


def whole_number(text: str) -> int:
    """A whole number of ASCII digits (0 or more); argparse names the option on refusal."""
    if not WHOLE_NUMBER.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"must be a whole number such as 5, not {one_line(text, 40)!r}"
        )
    return int(text)


def seconds(text: str) -> float:
    """A number of seconds in plain decimal digits, such as 30 or 2.5."""
    if not DECIMAL_NUMBER.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds such as 30 or 2.5, not {one_line(text, 40)!r}"
        )
    return float(text)
