"""Numbers typed by people, read by one strict rule everywhere.

Python's own int() and float() take more than a person means: Arabic-Indic
digits ("٣"), surrounding spaces (" 5 "), underscores, "nan", "inf" and
"1e400". A number here is plain ASCII digits and nothing else, so what is
echoed back is what was typed, and it fits a 64-bit database column.
"""

from __future__ import annotations

import re

WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")
DECIMAL_NUMBER = re.compile(r"[0-9]{1,18}(\.[0-9]{1,9})?")


def whole_number_or_none(text: str) -> int | None:
    """TEXT as a whole number (0 or more) if it is one by the rule above, else None."""
    return int(text) if WHOLE_NUMBER.fullmatch(text) else None


def decimal_number_or_none(text: str) -> float | None:
    """TEXT as a number such as 30 or 2.5 if it is one by the rule above, else None."""
    return float(text) if DECIMAL_NUMBER.fullmatch(text) else None
