"""The one clock every service reads.

MAILPOOLS_NOW (ISO 8601) stands the whole program on a fixed moment, so tests
and demos can stand on any day of a warm-up. Times are aware, in UTC;
a MAILPOOLS_NOW without an offset is read as UTC.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

from app.errors import MailpoolsError


def now() -> datetime:
    fixed = os.environ.get("MAILPOOLS_NOW")
    if fixed:
        return parse_instant(fixed)
    return datetime.now(UTC)


def today() -> date:
    return now().date()


def parse_instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MailpoolsError(
            f"MAILPOOLS_NOW is not an ISO 8601 time: {value!r} (try 2026-11-26T09:00:00)"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # An offset that pushes the first or last representable day past the calendar's end.
        raise MailpoolsError(
            f"MAILPOOLS_NOW is out of range: {value!r} (try 2026-11-26T09:00:00)"
        ) from None
