"""The one clock every service reads.

The program can stand on a fixed moment, so tests and demos can stand on any day
of a warm-up: `with clock.frozen_at(moment):` inside one process, and
MAILPOOLS_NOW (ISO 8601, read once with the other settings, see app.settings)
for a whole program and its child processes. Times are aware, in UTC; a moment
without an offset is read as UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from app.errors import MailpoolsError

# Module-wide rather than a context variable: the console's thread workers and the
# sender's tasks must all see the moment the program stands on.
_fixed: datetime | None = None


def now() -> datetime:
    return _fixed if _fixed is not None else datetime.now(UTC)


def today() -> date:
    return now().date()


@contextmanager
def frozen_at(moment: datetime | str) -> Iterator[datetime]:
    """Stand the whole process on MOMENT (naive means UTC) until the block ends."""
    fixed = parse_instant(moment) if isinstance(moment, str) else _in_utc(moment)
    with _standing_at(fixed):
        yield fixed


@contextmanager
def running() -> Iterator[None]:
    """The real time again until the block ends, inside a frozen one (leases that expire)."""
    with _standing_at(None):
        yield


@contextmanager
def _standing_at(moment: datetime | None) -> Iterator[None]:
    global _fixed
    previous = _fixed
    _fixed = moment
    try:
        yield
    finally:
        _fixed = previous


def parse_instant(value: str, name: str = "MAILPOOLS_NOW") -> datetime:
    """VALUE as an aware moment in UTC; NAME is what a refusal calls it."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MailpoolsError(
            f"{name} is not an ISO 8601 time: {value!r} (try 2026-11-26T09:00:00)"
        ) from None
    try:
        return _in_utc(moment)
    except OverflowError:
        # An offset that pushes the first or last representable day past the calendar's end.
        raise MailpoolsError(
            f"{name} is out of range: {value!r} (try 2026-11-26T09:00:00)"
        ) from None


def _in_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
