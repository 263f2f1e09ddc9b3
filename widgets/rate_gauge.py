"""A rate against its limit: the number, a bar, and the limit, coloured by how close it is."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from app.console.owner_backend import RateReading
from app.rules.formatting import percent

BAR_WIDTH = 20
LEVEL_STYLES = {
    "ok": "green",
    "near": "yellow",
    "over": "bold red",
    "unjudged": "dim",
    "idle": "dim",
}
LEVEL_NOTES = {
    "ok": "well under the limit",
    "near": "near the limit",
    "over": "OVER the limit",
    "unjudged": "too few sent to judge",
    "idle": "nothing sent",
}


class RateGauge(Static):
    DEFAULT_CSS = """
    RateGauge { height: 1; }
    """

    def __init__(self, label: str, reading: RateReading, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.reading = reading

    def render(self) -> Text:
        reading = self.reading
        style = LEVEL_STYLES[reading.level]
        filled = 0
        if reading.limit > 0 and reading.sample:
            filled = min(BAR_WIDTH, round(BAR_WIDTH * reading.value / reading.limit))
        text = Text()
        text.append(f"{self.label:<11}")
        text.append(f"{reading.text:>7} ", style=style)
        text.append("█" * filled, style=style)
        text.append("░" * (BAR_WIDTH - filled), style="dim")
        text.append(f" limit {percent(reading.limit)}  ")
        text.append(LEVEL_NOTES[reading.level], style=style)
        return text
