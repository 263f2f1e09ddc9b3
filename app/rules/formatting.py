"""How numbers, money and ages read, the same in the console and on the command line."""

from __future__ import annotations

from datetime import date, datetime

from app import clock


def one_line(text: str, limit: int) -> str:
    """TEXT fit to echo in a one-sentence message: escaped if it holds characters that
    do not print (a newline would split the message), and cut to LIMIT characters."""
    shown = text if text.isprintable() else repr(text)[1:-1]
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def short_count(number: int) -> str:
    """Volumes as people read them at a glance: 950, 82.4k, 80k, 1.2M."""
    if number < 1_000:
        return str(number)
    if number < 1_000_000:
        return f"{number / 1_000:.1f}".removesuffix(".0") + "k"
    return f"{number / 1_000_000:.1f}".removesuffix(".0") + "M"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """COUNT and its NOUN, in the plural (MANY, or NOUN + s) unless it is one: '1 IP', '2 IPs'."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def table_time(moment: datetime) -> str:
    """A moment in a table's cell, one style everywhere: '2 Dec 01:47'."""
    return f"{moment:%-d %b %H:%M}"


def sentence_date(day: date) -> str:
    """A day within a sentence, one style everywhere: '18 Nov 2026'."""
    return f"{day:%-d %b %Y}"


def readable(value: object) -> str:
    """A recorded value as a person reads it, never as Python writes it: lists joined by
    commas, mappings as 'key value' pairs, nothing as 'none'."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set):
        return ", ".join(readable(item) for item in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{key} {readable(item)}" for key, item in value.items())
    return str(value)


def percent(rate: float) -> str:
    """A rate to two decimals: 0.0123 reads 1.23%."""
    return f"{rate * 100:.2f}%"


def whole_percent(share: float) -> str:
    """A share rounded to a whole percent: 0.375 reads 38%."""
    return f"{round(share * 100)}%"


def dollars(cents: int) -> str:
    """Whole dollars: 5000 cents reads $50, 125000 reads $1,250."""
    return f"${cents / 100:,.0f}"


def age(moment: datetime, now: datetime | None = None) -> str:
    """How long before NOW (the program's clock by default) the MOMENT was: '3 days ago'."""
    # Imported here, not at the top: the console's first screen shows no ages and starts faster.
    import humanize

    return humanize.naturaltime(moment, when=now or clock.now())
