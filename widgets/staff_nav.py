"""The strip across the top of the agents' screens: where you are, and the keys to go elsewhere."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

# (key, screen name, label), in the order of the strip.
STAFF_SECTIONS = (
    ("1", "triage", "Triage"),
    ("2", "pools", "Pools"),
    ("3", "warmups", "Warm-ups"),
    ("4", "flags", "Flags"),
    ("5", "audit", "Audit"),
)


class StaffNav(Static):
    DEFAULT_CSS = """
    StaffNav {
        height: 1;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self, current: str) -> None:
        super().__init__(self.strip(current), id="staff-nav")
        self.current = current

    @staticmethod
    def strip(current: str) -> Text:
        text = Text()
        for key, name, label in STAFF_SECTIONS:
            if name == current:
                text.append(f" {key} {label} ", style="bold reverse")
            else:
                text.append(f" {key} ", style="bold")
                text.append(f"{label} ", style="dim")
            text.append(" ")
        return text
