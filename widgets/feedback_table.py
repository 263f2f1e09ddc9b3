"""What receivers said about a domain's mail, newest first: bounces (hard or soft, with
their status code), complaints and unsubscribe requests, each with the receiver's words.
The domain screen fills it with `feedback_rows`, keeping the reader's cursor and scroll."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from app.rules.formatting import one_line, plural, table_time

if TYPE_CHECKING:
    from app.services.feedback import EventView

KIND_STYLES = {"hard bounce": "red", "soft bounce": "yellow", "complaint": "bold red"}


def kind_words(event: EventView) -> str:
    return f"{event.severity} bounce" if event.severity else event.kind


def summary(events: list[EventView], limit: int) -> str:
    """The section's title: how many of each kind, among the newest LIMIT."""
    if not events:
        return "What receivers said: no bounces, complaints or unsubscribes reported"
    counts = Counter(kind_words(event) for event in events)
    told = ", ".join(
        plural(counts[kind], kind)
        for kind in ("hard bounce", "soft bounce", "complaint")
        if counts[kind]
    )
    if counts["unsubscribe"]:
        told += (", " if told else "") + plural(counts["unsubscribe"], "unsubscribe request")
    newest = f" (the newest {limit:,})" if len(events) >= limit else ""
    return f"What receivers said{newest}: {told}"


def feedback_rows(events: list[EventView]) -> list[list[str | Text]]:
    """The table's rows for EVENTS, newest first; one that says so when there are none."""
    rows: list[list[str | Text]] = []
    for event in events:
        words = kind_words(event)
        rows.append(
            [
                table_time(event.at),
                Text(words, style=KIND_STYLES.get(words, "")),
                # Text, not str: a table reads a str as markup, and these are the receiver's.
                Text(event.code or "—"),
                Text(event.recipient),
                event.ip or "—",
                Text(one_line(event.text, 80)),
            ]
        )
    return rows or [["—", "nothing reported", "", "", "", ""]]


class FeedbackTable(DataTable[str | Text]):
    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_columns("When", "What", "Code", "To", "IP", "The receiver said")
