"""A rate against its limit: the number, a bar, and the limit, coloured by how close it is.

Colour is never the only sign: each level has its mark, so a rate reads the same on a
terminal without colours and on a table's highlighted row, which paints over them.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from app.rules.formatting import percent
from app.rules.rates import Level, RateAgainstLimit

BAR_WIDTH = 20
# How a rate's level reads wherever a rate is shown: gauges, the home table, the agents' lists.
LEVEL_STYLES = {
    Level.OK: "green",
    Level.NEAR: "yellow",
    Level.OVER: "bold red",
    Level.UNJUDGED: "dim",
    Level.IDLE: "dim",
}
LEVEL_MARKS = {
    Level.OK: "✓",
    Level.NEAR: "!",
    Level.OVER: "✗",
    Level.UNJUDGED: "?",
    Level.IDLE: " ",
}
# The same in a few words, for legends and lines that have little room.
LEVEL_WORDS = {
    Level.OK: "well under",
    Level.NEAR: "near",
    Level.OVER: "over",
    Level.UNJUDGED: "too few to judge",
    Level.IDLE: "nothing sent",
}
LEVEL_NOTES = {
    Level.OK: "well under the limit",
    Level.NEAR: "near the limit",
    Level.OVER: "OVER the limit",
    Level.UNJUDGED: "too few sent to judge",
    Level.IDLE: "nothing sent",
}


def rate_cell(reading: RateAgainstLimit) -> Text:
    """A rate for a table: its number and its level's mark, right-aligned."""
    return Text(
        f"{reading.text} {LEVEL_MARKS[reading.level]}",
        style=LEVEL_STYLES[reading.level],
        justify="right",
    )


def rate_legend(lead: str) -> Text:
    """LEAD, then what each mark and colour of a rate means, in the tables' own styles."""
    legend = Text(lead)
    for number, level in enumerate((Level.OK, Level.NEAR, Level.OVER, Level.UNJUDGED)):
        legend.append(" · " if number else " ")
        legend.append(f"{LEVEL_MARKS[level]} {LEVEL_WORDS[level]}", style=LEVEL_STYLES[level])
    return legend


class RateGauge(Static):
    DEFAULT_CSS = """
    RateGauge { height: 1; }
    """

    def __init__(self, label: str, reading: RateAgainstLimit, **kwargs) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.reading = reading

    def render(self) -> Text:
        reading = self.reading
        style = LEVEL_STYLES[reading.level]
        filled = 0
        if reading.limit and reading.volume:
            filled = min(BAR_WIDTH, round(BAR_WIDTH * reading.value / reading.limit))
        text = Text()
        text.append(f"{self.label:<11}")
        text.append(f"{reading.text:>7} {LEVEL_MARKS[reading.level]} ", style=style)
        text.append("█" * filled, style=style)
        text.append("░" * (BAR_WIDTH - filled), style="dim")
        limit = percent(reading.limit) if reading.limit is not None else "none"
        text.append(f" limit {limit}  ")
        text.append(LEVEL_NOTES[reading.level], style=style)
        return text
